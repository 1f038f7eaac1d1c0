"""Draw a solved element: a broadcast-style camera, the arena, the apparatus and the gymnast.

Everything is 3D and projected through a pinhole camera that pans with the gymnast (vault, floor,
beam) or holds on the bars. The gymnast is capsules between her joints plus a head and a hair bun
(which way she faces), the leotard's front and back differ, and limbs are shaded by depth so that a
twist reads as the near and far sides swapping. The floor is a textured plane (ray-cast per pixel),
the arena behind it has boards and a crowd; a coach or judge may stand by, and lighting and sensor
noise come from the SSv2 world's `photometric`. Nuisance factors drawn here: camera side, azimuth,
elevation, distance and framing, pan lag and shake, every colour, the arena, distractors, lighting.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from benchmarks.gym.body import BUN_RADIUS, HEAD_RADIUS, POSES, SEGMENTS, J, joints, orientation
from benchmarks.gym.motion import BAR_GAP, BEAM, BEAM_HALF, HIGH, LOW, MAT, TABLE, Choreo
from benchmarks.world.render import Look, photometric

SIZE = 56       # rendered (and mp4) frame size
FRAMES = 16     # rendered (and mp4) frames per clip


@dataclass
class Camera:
    pos: np.ndarray      # [T, 3]
    rot: np.ndarray      # [T, 3, 3] rows: right, up, forward (into the scene)
    focal: float         # pixels

    def project(self, p: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
        """World points [N, 3] of frame i -> image (u, v) [N, 2] and depth [N]."""
        q = (p - self.pos[i]) @ self.rot[i].T
        depth = np.maximum(q[:, 2], 0.1)
        uv = np.stack([SIZE / 2 + self.focal * q[:, 0] / depth, SIZE / 2 - self.focal * q[:, 1] / depth], -1)
        return uv, depth


def look_at(pos: np.ndarray, target: np.ndarray) -> np.ndarray:
    fwd = target - pos
    fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)
    right = np.cross(fwd, np.array([0.0, 1.0, 0.0]))
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    up = np.cross(right, fwd)
    return np.stack([right, up, fwd], axis=1)


def _color(rng, h=(0, 1), s=(0.3, 1.0), v=(0.3, 1.0)) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(rng.uniform(*h) % 1.0, rng.uniform(*s), rng.uniform(*v)))


# framing per apparatus: (vertical metres in view, height the camera aims at, follows the gymnast in x)
FRAMING = {"FX": ((2.9, 3.7), 1.1, True), "BB": ((3.1, 3.9), 1.8, True), "VT": ((3.6, 4.4), 1.5, True),
           "UB": ((4.8, 5.6), 1.8, False)}


def camera(rng: np.random.Generator, apparatus: str, com: np.ndarray) -> Camera:
    """A camera beside the line of travel (either side), panning with the centre of mass or holding."""
    T = len(com)
    (v0, v1), aim, follow = FRAMING[apparatus]
    side = 1.0 if rng.random() < 0.5 else -1.0
    az = np.radians(rng.uniform(-35, 35)) + (0.0 if side > 0 else np.pi)
    el = np.radians(rng.uniform(2, 14))
    dist = rng.uniform(12, 20)
    view = rng.uniform(v0, v1)
    lag = rng.uniform(0.0, 0.35)
    smooth = com.copy()
    for i in range(1, T):                   # a camera operator following with some lag
        smooth[i] = smooth[i - 1] + (1.0 - lag) * (com[i] - smooth[i - 1])
    if follow:
        target = np.stack([smooth[:, 0], 0.5 * aim + 0.6 * smooth[:, 1], smooth[:, 2] * 0.5], -1)
    else:                                   # bars: hold on the bars, drift half way towards the gymnast
        x = 0.5 * (-BAR_GAP / 2 + rng.uniform(-0.3, 0.3)) + 0.5 * smooth[:, 0]
        target = np.stack([x, np.full(T, aim), np.zeros(T)], -1)
    target += np.cumsum(rng.normal(0, rng.uniform(0, 0.02), (T, 3)), axis=0)
    direction = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    pos = target + dist * direction
    return Camera(pos, look_at(pos, target), SIZE * dist / view)


# --- primitives -------------------------------------------------------------------------------------

def _capsule_cover(uu, vv, a, b, ra, rb):
    """Anti-aliased coverage of a capsule from a to b (pixels) with end radii ra, rb."""
    d = b - a
    L2 = max(float(d @ d), 1e-9)
    s = np.clip(((uu - a[0]) * d[0] + (vv - a[1]) * d[1]) / L2, 0.0, 1.0)
    dist = np.hypot(uu - (a[0] + s * d[0]), vv - (a[1] + s * d[1])) - (ra + (rb - ra) * s)
    return np.clip(0.5 - dist, 0.0, 1.0)


def _polygon_cover(uu, vv, pts):
    """Coverage of a convex polygon [K, 2] (pixels), anti-aliased by the signed edge distance."""
    centre = pts.mean(0)
    d = np.full(uu.shape, -np.inf)
    for a, b in zip(pts, np.roll(pts, -1, axis=0)):
        e = b - a
        n = np.array([e[1], -e[0]]) / max(np.hypot(*e), 1e-9)
        if (centre - a) @ n > 0:
            n = -n
        d = np.maximum(d, (uu - a[0]) * n[0] + (vv - a[1]) * n[1])
    return np.clip(0.5 - d, 0.0, 1.0)


@dataclass
class Prim:
    """One drawable: a capsule (points [T, 2, 3], radius in metres) or a polygon (points [T, K, 3])."""

    points: np.ndarray
    color: np.ndarray        # [3] or [T, 3]
    radius: float = 0.0      # capsules only; polygons have 0
    min_px: float = 0.6      # capsules never thinner than this (pixels)
    bias: float = 0.0        # added to the depth used for drawing order (metres)


def _box(x0, x1, y0, y1, z0, z1) -> list[np.ndarray]:
    """The camera-facing faces of an axis-aligned box, as quads (the far faces are hidden anyway)."""
    return [np.array([[x0, y1, z0], [x1, y1, z0], [x1, y1, z1], [x0, y1, z1]]),     # top
            np.array([[x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]]),     # +z side
            np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0]]),     # -z side
            np.array([[x0, y0, z0], [x0, y0, z1], [x0, y1, z1], [x0, y1, z0]]),     # -x end
            np.array([[x1, y0, z0], [x1, y0, z1], [x1, y1, z1], [x1, y1, z0]])]     # +x end


def apparatus(rng: np.random.Generator, c: Choreo, T: int) -> list[Prim]:
    """The apparatus of the element (and its landing mats) as static primitives."""
    out: list[Prim] = []
    still = lambda pts: np.broadcast_to(np.asarray(pts, float), (T, *np.shape(pts))).copy()  # noqa: E731
    metal = _color(rng, s=(0.0, 0.15), v=(0.55, 0.9))
    mat = _color(rng, h=(0.5, 0.7), s=(0.3, 0.8), v=(0.4, 0.9))
    if c.apparatus == "BB":
        wood = _color(rng, h=(0.05, 0.12), s=(0.2, 0.5), v=(0.55, 0.95))
        for k, q in enumerate(_box(-BEAM_HALF, BEAM_HALF, BEAM - 0.16, BEAM, -0.05, 0.05)):
            out.append(Prim(still(q), wood * (1.0 if k == 0 else 0.8)))
        for x in (-BEAM_HALF + 0.5, BEAM_HALF - 0.5):
            out.append(Prim(still([[x, 0.0, 0.0], [x, BEAM - 0.16, 0.0]]), metal, 0.04))
        for q in _box(-BEAM_HALF - 2, BEAM_HALF + 3, 0.0, MAT, -1.0, 1.0)[:2]:
            out.append(Prim(still(q), mat, bias=2.0))
    elif c.apparatus == "UB":
        for x, y in ((0.0, HIGH), (-BAR_GAP, LOW)):
            out.append(Prim(still([[x, y, -1.2], [x, y, 1.2]]), metal, 0.03, min_px=0.7))
            for z in (-1.2, 1.2):
                out.append(Prim(still([[x, 0.0, z], [x, y, z]]), metal * 0.85, 0.035))
                out.append(Prim(still([[x, y, z], [x + (1.6 if x == 0 else -1.6), 0.0, z * 1.3]]), metal * 0.6, 0.006,
                                min_px=0.35))
        for q in _box(-4.0, 4.0, 0.0, MAT, -1.5, 1.5)[:2]:
            out.append(Prim(still(q), mat, bias=3.0))
    elif c.apparatus == "VT":
        body = _color(rng, s=(0.2, 0.9), v=(0.3, 0.9))
        for k, q in enumerate(_box(-0.6, 0.6, TABLE - 0.25, TABLE, -0.47, 0.47)):
            out.append(Prim(still(q), body * (1.0 if k == 0 else 0.75)))
        out.append(Prim(still([[0.0, 0.0, 0.0], [0.0, TABLE - 0.25, 0.0]]), metal, 0.08))
        board = _color(rng, s=(0.3, 1.0), v=(0.5, 1.0))
        out.append(Prim(still([[-2.5, 0.0, 0.3], [-1.3, 0.3, 0.3], [-1.3, 0.3, -0.3], [-2.5, 0.0, -0.3]]), board))
        out.append(Prim(still([[-2.5, 0.0, 0.3], [-1.3, 0.3, 0.3], [-1.3, 0.0, 0.3]]), board * 0.7))
        for q in _box(0.9, 6.0, 0.0, MAT, -1.2, 1.2)[:2]:
            out.append(Prim(still(q), mat, bias=2.0))
    return out


def figure(rng: np.random.Generator, pts: np.ndarray, height: float, cam_pos: np.ndarray) -> list[Prim]:
    """The gymnast (or a bystander) from world joints [T, J, 3]: capsules, head and hair bun."""
    leo = _color(rng)
    back = leo * rng.uniform(0.35, 0.6)
    accent = _color(rng, v=(0.7, 1.0))
    front = 0.55 * leo + 0.45 * accent
    skin = np.array([0.93, 0.72, 0.6]) * rng.uniform(0.45, 1.05)
    legs = skin if rng.random() < 0.8 else leo * 0.8
    arms = skin if rng.random() < 0.6 else leo
    hair = _color(rng, h=(0.02, 0.12), s=(0.3, 0.8), v=(0.1, 0.6))
    # which way the chest faces the camera: +1 front, -1 back
    right = pts[:, J["sh_r"]] - pts[:, J["sh_l"]]
    up = pts[:, J["chest"]] - pts[:, J["pelvis"]]
    facing = np.cross(right, up)
    facing /= np.maximum(np.linalg.norm(facing, axis=-1, keepdims=True), 1e-9)
    view = cam_pos - pts[:, J["pelvis"]]
    view /= np.linalg.norm(view, axis=-1, keepdims=True)
    f = np.clip(np.einsum("tk,tk->t", facing, view) * 1.5, -1, 1)[:, None]
    torso = front * (0.5 + 0.5 * f) + back * (0.5 - 0.5 * f)
    centre = pts.mean(axis=1)
    out = []
    for a, b, r, part in SEGMENTS:
        seg = pts[:, [J[a], J[b]]]
        near = np.einsum("tk,tk->t", seg.mean(1) - centre, view)          # > 0: nearer than the body's centre
        shade = np.clip(0.82 + 1.0 * near, 0.55, 1.1)[:, None]
        base = {"torso": torso, "skin": skin, "leg": legs, "arm": arms}[part]
        out.append(Prim(seg, np.clip(base * shade, 0, 1), r * height))
    head = pts[:, [J["head"], J["head"]]]
    out.append(Prim(head, skin, HEAD_RADIUS * height))
    out.append(Prim(pts[:, [J["bun"], J["bun"]]], hair, BUN_RADIUS * height, min_px=0.8))
    return out


def backdrop(rng: np.random.Generator, cam: Camera) -> np.ndarray:
    """Floor plane and arena behind it, per frame: float [T, SIZE, SIZE, 3]."""
    vv, uu = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) + 0.5
    rays = np.stack([(uu - SIZE / 2) / cam.focal, -(vv - SIZE / 2) / cam.focal, np.ones_like(uu)], -1)
    d = np.einsum("tji,hwj->thwi", cam.rot, rays)           # camera to world directions [T, H, W, 3]
    o = cam.pos[:, None, None, :]
    floor_c = _color(rng, h=(0.52, 0.68), s=(0.3, 0.9), v=(0.3, 0.75))
    if rng.random() < 0.3:
        floor_c = _color(rng, s=(0.1, 0.7), v=(0.3, 0.8))
    line = _color(rng, s=(0.0, 0.3), v=(0.8, 1.0))
    wall = _color(rng, s=(0.1, 0.6), v=(0.05, 0.35))
    boards = _color(rng, s=(0.4, 1.0), v=(0.4, 1.0))
    seam, seam_w = rng.uniform(1.5, 2.5), rng.uniform(0.02, 0.06)
    board_top = rng.uniform(0.8, 1.3)
    crowd = rng.uniform(0.0, 0.15)
    back_z = -rng.uniform(8, 14) * np.sign(cam.pos[0, 2] + 1e-9)
    hit = d[..., 1] < -1e-6
    s = np.where(hit, -o[..., 1] / np.where(hit, d[..., 1], -1.0), 1e6)
    px, pz = o[..., 0] + s * d[..., 0], o[..., 2] + s * d[..., 2]
    # the arena wall: a vertical plane behind the apparatus
    sw = (back_z - o[..., 2]) / np.where(np.abs(d[..., 2]) > 1e-6, d[..., 2], 1e-6)
    wx, wy = o[..., 0] + sw * d[..., 0], o[..., 1] + sw * d[..., 1]
    on_floor = hit & (s < np.where(sw > 0, sw, 1e6))
    img = np.where((wy < board_top)[..., None], boards * (0.8 + 0.2 * np.sign(np.sin(wx * 1.3))[..., None]),
                   wall * (1 + crowd * np.sin(wx * 7.1 + wy * 5.3)[..., None] * np.sin(wx * 3.7)[..., None]))
    fl = floor_c * (1 - 0.25 * (np.abs(((px / seam) + 0.5) % 1 - 0.5) * seam < seam_w))[..., None]
    fl = np.where((np.abs(pz - 6.0) < 0.05)[..., None], line, fl)
    return np.where(on_floor[..., None], fl, img)


def draw(frames: np.ndarray, prims: list[Prim], cam: Camera) -> None:
    """Composite every primitive onto frames [T, SIZE, SIZE, 3] in place, far to near in each frame."""
    T = len(frames)
    sizes = [p.points.shape[1] for p in prims]
    starts = np.cumsum([0, *sizes[:-1]])
    pts = np.concatenate([p.points for p in prims], axis=1)
    q = np.einsum("tij,tnj->tni", cam.rot, pts - cam.pos[:, None])
    depth = np.maximum(q[..., 2], 0.1)
    uv = np.stack([SIZE / 2 + cam.focal * q[..., 0] / depth, SIZE / 2 - cam.focal * q[..., 1] / depth], -1)
    order_key = np.add.reduceat(depth, starts, axis=1) / np.array(sizes) + np.array([p.bias for p in prims])
    vv, uu = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) + 0.5
    for i in range(T):
        img = frames[i]
        for k in np.argsort(-order_key[i], kind="stable"):
            p, a = prims[k], starts[k]
            puv = uv[i, a:a + sizes[k]]
            color = p.color[i] if p.color.ndim == 2 else p.color
            if p.radius > 0:
                ra, rb = (max(cam.focal * p.radius / d, p.min_px) for d in depth[i, a:a + 2])
                r = max(ra, rb) + 1
                lo, hi = puv.min(0) - r, puv.max(0) + r
            else:
                lo, hi = puv.min(0) - 1, puv.max(0) + 1
            u0, v0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
            u1, v1 = min(int(np.ceil(hi[0])), SIZE), min(int(np.ceil(hi[1])), SIZE)
            if u0 >= u1 or v0 >= v1:
                continue
            su, sv = uu[v0:v1, u0:u1], vv[v0:v1, u0:u1]
            cover = _capsule_cover(su, sv, puv[0], puv[1], ra, rb) if p.radius > 0 else _polygon_cover(su, sv, puv)
            region = img[v0:v1, u0:u1]
            region += (color - region) * cover[..., None]


def bystander(rng: np.random.Generator, cam: Camera, T: int) -> np.ndarray:
    """A coach or judge standing by on the far side of the apparatus (world joints [T, J, 3]), swaying."""
    h = rng.uniform(1.55, 1.9)
    local = joints(np.broadcast_to(POSES["stand"], (T, len(POSES["stand"]))), h)
    yaw = np.full(T, np.radians(rng.uniform(-180, 180)))
    z = np.zeros(T)
    rot = orientation(yaw, z + np.radians(rng.uniform(-5, 5)), z, z)
    x = rng.uniform(-4.5, 4.5)
    base = np.array([x, 0.53 * h + 0.05 * h, -rng.uniform(2.5, 5.0) * np.sign(cam.pos[0, 2])])
    sway = np.stack([0.05 * np.sin(np.linspace(0, rng.uniform(1, 3), T)), z, z], -1)
    return np.einsum("tij,tkj->tki", rot, local) + base + sway[:, None]


def render(c: Choreo, rng: np.random.Generator, times: np.ndarray) -> np.ndarray:
    """uint8 frames [len(times), SIZE, SIZE, 3] of the element at element times `times`."""
    T = len(times)
    pts = c.solve(times)
    com = pts.mean(axis=1)
    cam = camera(rng, c.apparatus, com)
    prims = apparatus(rng, c, T)
    if rng.random() < 0.5:
        prims += figure(rng, bystander(rng, cam, T), 1.7, cam.pos)
    prims += figure(rng, pts, c.height, cam.pos)
    frames = backdrop(rng, cam)
    look = Look(gain=rng.uniform(0.75, 1.2), cast=rng.uniform(0.88, 1.12, 3), grad=rng.uniform(-0.15, 0.15),
                grad_dir=rng.uniform(0, 2 * np.pi), flicker=1.0 + rng.normal(0, rng.uniform(0, 0.03), T),
                noise=rng.uniform(0.0, 0.03))
    draw(frames, prims, cam)
    return np.stack([photometric(frames[i], look, i, rng) for i in range(T)])
