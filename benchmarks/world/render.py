"""The rasteriser of the rendered world: actors with per-frame tracks drawn into uint8 RGB frames.

A scene is a set of actors (shapes with a colour, a pattern, a draw layer and per-frame position,
angle, scale and opacity), a camera (per-frame centre and zoom), a wall/table/floor background and
a lighting model. Everything lives in world pixel units of a `size` x `size` canvas whose camera,
at rest, is centred on it; the camera maps world to image, so camera motion moves the background
and every actor together while actor motion moves only the actor. Edges are anti-aliased by a
signed distance, so sub-pixel motion is visible.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SIZE = 56       # rendered (and mp4) frame size
FRAMES = 16     # rendered (and mp4) frames per clip

# Convex polygons in unit coordinates (x right, y down), scaled by the actor's half sizes (w, h).
POLYGONS = {
    "tri": np.array([(-1.0, 1.0), (1.0, 1.0), (0.0, -1.0)]),
    "wedge": np.array([(-1.0, 1.0), (1.0, 1.0), (1.0, -1.0)]),      # rises to the right
    "wedge_l": np.array([(-1.0, 1.0), (1.0, 1.0), (-1.0, -1.0)]),   # rises to the left
    "hex": np.array([(np.cos(a), np.sin(a)) for a in np.linspace(0, 2 * np.pi, 7)[:-1]]),
}
SHAPES = ("rect", "ellipse", *POLYGONS)
PATTERNS = ("plain", "stripes", "marker", "dots")


@dataclass
class Actor:
    """One drawable with per-frame tracks (arrays of length T)."""

    shape: str
    w: float                    # half width (local units)
    h: float                    # half height
    color: np.ndarray           # RGB in [0, 1]
    x: np.ndarray
    y: np.ndarray
    angle: np.ndarray
    scale: np.ndarray
    alpha: np.ndarray
    layer: float = 0.0
    pattern: str = "plain"
    period: float = 3.0         # stripe/dot period in local units
    shade: float = 0.55         # pattern's dark multiplier

    def extent(self) -> float:
        return float(np.hypot(self.w, self.h))


def _track(v, n: int) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return np.broadcast_to(a, (n,)).copy() if a.ndim == 0 else a.astype(np.float64).copy()


@dataclass
class Camera:
    cx: np.ndarray
    cy: np.ndarray
    zoom: np.ndarray


@dataclass
class Backdrop:
    """Wall above `horizon`, table below it; beyond `edge_x` (on side `edge_side`) the floor."""

    wall: np.ndarray
    table: np.ndarray
    floor: np.ndarray
    horizon: float
    edge_x: float | None = None
    edge_side: int = 1
    waves: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))   # (kx, ky, phase, amp)
    grain: float = 0.0          # table wood-grain amplitude
    grain_k: float = 1.0


@dataclass
class Look:
    """Per-clip photometric nuisance: gain, colour cast, gradient, flicker, sensor noise."""

    gain: float = 1.0
    cast: np.ndarray = field(default_factory=lambda: np.ones(3))
    grad: float = 0.0
    grad_dir: float = 0.0
    flicker: np.ndarray | None = None
    noise: float = 0.0


def _polygon_distance(lx: np.ndarray, ly: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Max over edges of the signed distance to each edge's line (convex polygon, counter-clockwise
    or clockwise alike): <= 0 inside. Exact inside; a good enough bound outside for anti-aliasing."""
    centre = poly.mean(axis=0)
    d = np.full(lx.shape, -np.inf)
    for a, b in zip(poly, np.roll(poly, -1, axis=0)):
        e = b - a
        n = np.array([e[1], -e[0]]) / np.hypot(*e)
        if np.dot(centre - a, n) > 0:
            n = -n
        d = np.maximum(d, (lx - a[0]) * n[0] + (ly - a[1]) * n[1])
    return d


def shape_distance(shape: str, lx: np.ndarray, ly: np.ndarray, w: float, h: float) -> np.ndarray:
    """Signed distance (local units, <= 0 inside) of points to the shape of half sizes (w, h)."""
    if shape == "rect":
        return np.maximum(np.abs(lx) - w, np.abs(ly) - h)
    if shape == "ellipse":
        return (np.sqrt((lx / w) ** 2 + (ly / h) ** 2) - 1.0) * min(w, h)
    poly = POLYGONS[shape] * np.array([w, h])
    return _polygon_distance(lx, ly, poly)


def _pattern(actor: Actor, lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    if actor.pattern == "stripes":
        return np.where(np.sin(lx * (2 * np.pi / actor.period)) > 0, 1.0, actor.shade)
    if actor.pattern == "marker":   # one half darker: rotation is visible
        return np.where(lx > 0, actor.shade, 1.0)
    if actor.pattern == "dots":
        s = np.sin(lx * (2 * np.pi / actor.period)) * np.sin(ly * (2 * np.pi / actor.period))
        return np.where(s > 0.5, actor.shade, 1.0)
    return np.ones_like(lx)


def _background(bd: Backdrop, wx: np.ndarray, wy: np.ndarray) -> np.ndarray:
    img = np.where((wy < bd.horizon)[..., None], bd.wall, bd.table)
    if bd.edge_x is not None:
        off = (wy >= bd.horizon) & ((wx - bd.edge_x) * bd.edge_side > 0)
        img = np.where(off[..., None], bd.floor, img)
    tex = np.zeros(wx.shape)
    for kx, ky, ph, amp in bd.waves:
        tex += amp * np.sin(kx * wx + ky * wy + ph)
    tex += np.where(wy >= bd.horizon, bd.grain * np.sin(bd.grain_k * wy + 0.3 * np.sin(0.2 * wx)), 0.0)
    return img * (1.0 + tex)[..., None]


def draw_actor(img: np.ndarray, actor: Actor, i: int, cam: Camera, size: int) -> None:
    """Composite actor at frame i onto img [size, size, 3] in place (bounding-box limited)."""
    a = actor.alpha[i]
    if a <= 0:
        return
    z, s = cam.zoom[i], actor.scale[i]
    # image position of the actor's centre and its pixel radius
    px = (actor.x[i] - cam.cx[i]) * z + size / 2
    py = (actor.y[i] - cam.cy[i]) * z + size / 2
    r = actor.extent() * s * z + 1.5
    u0, u1 = int(max(0, np.floor(px - r))), int(min(size, np.ceil(px + r) + 1))
    v0, v1 = int(max(0, np.floor(py - r))), int(min(size, np.ceil(py + r) + 1))
    if u0 >= u1 or v0 >= v1:
        return
    vv, uu = np.mgrid[v0:v1, u0:u1].astype(np.float64) + 0.5
    dx, dy = (uu - px) / (z * s), (vv - py) / (z * s)
    c, sn = np.cos(actor.angle[i]), np.sin(actor.angle[i])
    lx, ly = c * dx + sn * dy, -sn * dx + c * dy
    d = shape_distance(actor.shape, lx, ly, actor.w, actor.h) * (z * s)   # in pixels
    cov = np.clip(0.5 - d, 0.0, 1.0) * a
    if not cov.any():
        return
    col = actor.color[None, None, :] * _pattern(actor, lx, ly)[..., None]
    region = img[v0:v1, u0:u1]
    region += (col - region) * cov[..., None]


def rasterise(actors: list[Actor], cam: Camera, bd: Backdrop, look: Look, rng: np.random.Generator,
              frames: int = FRAMES, size: int = SIZE) -> np.ndarray:
    """Render the scene to uint8 frames [frames, size, size, 3]."""
    out = np.empty((frames, size, size, 3), np.uint8)
    vv, uu = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    order = sorted(actors, key=lambda a: a.layer)
    for i in range(frames):
        z = cam.zoom[i]
        wx = (uu - size / 2) / z + cam.cx[i]
        wy = (vv - size / 2) / z + cam.cy[i]
        img = _background(bd, wx, wy)
        for actor in order:
            draw_actor(img, actor, i, cam, size)
        out[i] = photometric(img, look, i, rng)
    return out


def photometric(img: np.ndarray, look: Look, i: int, rng: np.random.Generator) -> np.ndarray:
    """Frame i's lighting nuisance (gain, flicker, colour cast, gradient, sensor noise) applied to a float
    RGB image in [0, 1]; uint8 out. Shared by every rendered world."""
    size = img.shape[0]
    vv, uu = np.mgrid[0:size, 0:img.shape[1]].astype(np.float64) + 0.5
    gdir = np.cos(look.grad_dir) * (uu / size - 0.5) + np.sin(look.grad_dir) * (vv / size - 0.5)
    gain = look.gain * (1.0 if look.flicker is None else look.flicker[i])
    img = img * look.cast * gain + (look.grad * gdir)[..., None]
    if look.noise > 0:
        img = img + rng.normal(0.0, look.noise, img.shape)
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
