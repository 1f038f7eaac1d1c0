"""Scene building blocks: random "somethings", hands, containers, planks, slopes and motion tracks.

A label's script (benchmarks.world.scripts) builds one `Scene` from a seeded generator; every
nuisance factor (colours, sizes, positions, timing, backdrop, lighting, noise, distractors, camera
shake) is drawn here, so scripts only say what the label's text says.
"""
from __future__ import annotations

import colorsys

import numpy as np

from benchmarks.world.render import FRAMES, SIZE, Actor, Backdrop, Camera, Look, rasterise

ARM_LEN = 40.0
DIRS = {"left": np.pi, "right": 0.0, "up": -np.pi / 2, "down": np.pi / 2}


def smooth(s: np.ndarray) -> np.ndarray:
    return s * s * (3.0 - 2.0 * s)


def keyframes(t: np.ndarray, points, ease: bool = True) -> np.ndarray:
    """Values at times t [T] of a piecewise motion through (time, value) keys (values scalars or arrays
    [T, ...] out), eased (or linear) between keys, constant outside them. Keys must be sorted by time."""
    ts = np.array([p[0] for p in points], float)
    vs = np.array([p[1] for p in points], float)
    if len(ts) == 1:
        return np.broadcast_to(vs[0], (len(t), *vs.shape[1:])).copy()
    i = np.clip(np.searchsorted(ts, t, side="right") - 1, 0, len(ts) - 2)
    s = np.clip((t - ts[i]) / np.maximum(ts[i + 1] - ts[i], 1e-9), 0.0, 1.0)
    s = (smooth(s) if ease else s).reshape(-1, *([1] * (vs.ndim - 1)))
    return vs[i] + (vs[i + 1] - vs[i]) * s


class Hand:
    """A palm (or fingertip) with an arm reaching in from off-screen along `direction` (radians)."""

    def __init__(self, sc: "Scene", x, y, direction: float, finger: bool = False, layer: float = 6.0):
        r = sc.u(1.5, 2.0) if finger else sc.u(2.5, 3.3)
        skin = np.array([0.86, 0.63, 0.50]) * sc.u(0.5, 1.1) + sc.rng.normal(0, 0.03, 3)
        sleeve = sc.color() if sc.rng.random() < 0.6 else skin * 0.92
        self.palm = sc.add("ellipse", r, r * sc.u(0.8, 1.0), x, y, color=np.clip(skin, 0, 1), layer=layer,
                           pattern="plain")
        width = sc.u(1.1, 1.5) if finger else sc.u(1.9, 2.7)
        self.arm = sc.add("rect", ARM_LEN, width, x, y, color=sleeve, layer=layer - 0.01)
        self.direction = direction + sc.u(-0.25, 0.25)
        self.r = r
        sc.hands.append(self)

    @property
    def x(self) -> np.ndarray:
        return self.palm.x

    @property
    def y(self) -> np.ndarray:
        return self.palm.y

    def set(self, x=None, y=None, scale=None, layer=None) -> "Hand":
        for name, v in (("x", x), ("y", y), ("scale", scale)):
            if v is not None:
                setattr(self.palm, name, np.broadcast_to(np.asarray(v, float), self.palm.x.shape).copy())
        if layer is not None:
            self.palm.layer, self.arm.layer = layer, layer - 0.01
        return self

    def finalize(self) -> None:
        c, s = np.cos(self.direction), np.sin(self.direction)
        reach = (ARM_LEN + self.r * 0.6) * self.palm.scale
        self.arm.x, self.arm.y = self.palm.x + c * reach, self.palm.y + s * reach
        self.arm.angle = np.full_like(self.arm.x, self.direction)
        self.arm.scale, self.arm.alpha = self.palm.scale.copy(), self.palm.alpha.copy()


class Scene:
    """A clip under construction: `t` is the frame time in [0, 1]."""

    def __init__(self, rng: np.random.Generator, frames: int = FRAMES, size: int = SIZE):
        self.rng, self.T, self.S = rng, frames, size
        self.t = np.linspace(0.0, 1.0, frames)
        self.actors: list[Actor] = []
        self.hands: list[Hand] = []
        self.horizon = self.u(10, 22)
        self.ground = self.u(37, 44)         # table line on which the main objects stand
        self.cx0 = size / 2 + self.u(-5, 5)  # where the action is centred
        self.backdrop = self._backdrop()
        shake = self.u(0, 0.5) if rng.random() < 0.5 else 0.0
        self.camera = Camera(cx=size / 2 + np.cumsum(rng.normal(0, shake, frames)),
                             cy=size / 2 + np.cumsum(rng.normal(0, shake, frames)),
                             zoom=np.full(frames, self.u(0.92, 1.08)))
        self.look = Look(gain=self.u(0.7, 1.2), cast=rng.uniform(0.88, 1.12, 3), grad=self.u(-0.2, 0.2),
                         grad_dir=self.u(0, 2 * np.pi),
                         flicker=1.0 + rng.normal(0, self.u(0, 0.03), frames), noise=self.u(0.0, 0.035))

    # --- random draws -------------------------------------------------------------------------
    def u(self, a: float, b: float) -> float:
        return float(self.rng.uniform(a, b))

    def sign(self) -> int:
        return 1 if self.rng.random() < 0.5 else -1

    def choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def color(self, sat=(0.35, 1.0), val=(0.35, 1.0)) -> np.ndarray:
        return np.array(colorsys.hsv_to_rgb(self.u(0, 1), self.u(*sat), self.u(*val)))

    def _backdrop(self) -> Backdrop:
        waves = np.array([(self.u(-0.5, 0.5), self.u(-0.5, 0.5), self.u(0, 6.3), self.u(0, 0.1))
                          for _ in range(int(self.rng.integers(0, 4)))]).reshape(-1, 4)
        table = self.color(sat=(0.05, 0.6), val=(0.3, 0.9))
        return Backdrop(wall=self.color(sat=(0.0, 0.5), val=(0.3, 0.95)), table=table,
                        floor=table * self.u(0.25, 0.55), horizon=self.horizon, waves=waves,
                        grain=self.u(0, 0.1), grain_k=self.u(0.5, 2.5))

    # --- actors -------------------------------------------------------------------------------
    def add(self, shape: str, w: float, h: float, x, y, color=None, angle=0.0, scale=1.0, alpha=1.0,
            layer: float = 2.0, pattern: str | None = None) -> Actor:
        n = self.T
        full = lambda v: np.broadcast_to(np.asarray(v, float), (n,)).copy()
        pattern = pattern or self.choice(("plain", "plain", "stripes", "dots"))
        a = Actor(shape=shape, w=w, h=h, color=self.color() if color is None else np.asarray(color, float),
                  x=full(x), y=full(y), angle=full(angle), scale=full(scale), alpha=full(alpha), layer=layer,
                  pattern=pattern, period=self.u(1.8, 3.5), shade=self.u(0.45, 0.75))
        self.actors.append(a)
        return a

    def thing(self, x: float, bottom: float | None = None, size=(3.5, 6.0), shapes=("rect", "ellipse", "tri", "hex"),
              layer: float = 2.0, pattern: str | None = None, tall: bool | None = None) -> Actor:
        """A random "something" standing on `bottom` (default: the table line)."""
        w, h = self.u(*size), self.u(*size)
        if tall is True:
            w, h = min(w, h) * 0.6, max(w, h) * 1.2
        elif tall is False:
            w, h = max(w, h), min(w, h) * 0.8
        bottom = self.ground if bottom is None else bottom
        return self.add(self.choice(shapes), w, h, x, bottom - h, layer=layer, pattern=pattern)

    def ball(self, x: float, bottom: float | None = None, layer: float = 2.0) -> Actor:
        r = self.u(3.0, 5.0)
        bottom = self.ground if bottom is None else bottom
        return self.add("ellipse", r, r, x, bottom - r, layer=layer, pattern=self.choice(("marker", "stripes")))

    def spinner(self, x: float, layer: float = 2.0) -> Actor:
        """An object whose rotation is visible (marked or striped, not round-symmetric in look)."""
        a = self.thing(x, shapes=("rect", "ellipse", "tri", "hex"), layer=layer,
                       pattern=self.choice(("marker", "stripes")))
        return a

    def box(self, x: float, layer: float = 1.5, w=(7, 10), h=(2.5, 4.5)) -> Actor:
        """A flat-topped support (book, box) on the table."""
        hw, hh = self.u(*w), self.u(*h)
        return self.add("rect", hw, hh, x, self.ground - hh, layer=layer)

    def tall_thing(self, x: float, layer: float = 1.5) -> Actor:
        hw, hh = self.u(4, 7.5), self.u(7, 10)
        return self.add(self.choice(("rect", "rect", "hex", "ellipse")), hw, hh, x, self.ground - hh, layer=layer)

    def container(self, x: float, layer: float = 1.5, w=(5, 7.5), h=(5, 8)) -> tuple[Actor, Actor]:
        """A cup: dark interior (behind what goes in) and a front wall (in front of it).

        Returns (back, front); what is inside is drawn between them (layer + 0.25) and hidden
        below the rim `front.y - front.h`."""
        hw, hh = self.u(*w), self.u(*h)
        col = self.color()
        back = self.add("rect", hw, hh, x, self.ground - hh, color=col * 0.35, layer=layer, pattern="plain")
        fh = hh * 0.82
        front = self.add("rect", hw, fh, x, self.ground - fh, color=col, layer=layer + 0.5)
        return back, front

    def bridge(self, x: float, layer: float = 1.5) -> list[Actor]:
        """A plank on two legs: something fits underneath it."""
        hw, hh, leg = self.u(9, 12), self.u(1.2, 2.0), self.u(6, 9)
        col = self.color()
        top_y = self.ground - 2 * leg - hh
        parts = [self.add("rect", hw, hh, x, top_y, color=col, layer=layer)]
        for side in (-1, 1):
            parts.append(self.add("rect", 1.0, leg, x + side * (hw - 1.2), self.ground - leg, color=col * 0.8,
                                  layer=layer, pattern="plain"))
        return parts

    def plank(self, x: float, layer: float = 1.5) -> Actor:
        return self.add("rect", self.u(10, 14), self.u(1.2, 2.2), x, self.ground - 1.7, layer=layer)

    def slope(self, x: float, rises: int, layer: float = 1.0) -> tuple[Actor, np.ndarray, np.ndarray]:
        """A wedge rising to the right (rises=1) or left; returns it, its low and high surface points."""
        hw, hh = self.u(10, 14), self.u(5, 8)
        wedge = self.add("wedge" if rises > 0 else "wedge_l", hw, hh, x, self.ground - hh, layer=layer)
        low = np.array([x - rises * hw, self.ground])
        high = np.array([x + rises * hw, self.ground - 2 * hh])
        return wedge, low, high

    def hand(self, x, y, side: str | float = "up", finger: bool = False, layer: float = 6.0) -> Hand:
        direction = DIRS[side] if isinstance(side, str) else float(side)
        return Hand(self, x, y, direction, finger=finger, layer=layer)

    def distractors(self, n: int | None = None) -> None:
        """Static objects far back on the table or hanging on the wall: clutter that does nothing."""
        n = int(self.rng.integers(0, 3)) if n is None else n
        for _ in range(n):
            x = self.choice((self.u(2, 14), self.u(42, 54)))
            if self.rng.random() < 0.5:
                y = self.u(4, self.horizon - 3) if self.horizon > 8 else self.u(self.horizon, self.ground - 14)
            else:
                y = self.u(self.horizon + 1, self.ground - 8)
            s = self.u(1.5, 3.5)
            self.add(self.choice(("rect", "ellipse", "tri", "hex")), s, self.u(1.5, 3.5), x, y, layer=0.5)

    # --- tracks -------------------------------------------------------------------------------
    def key(self, *points: tuple[float, float], ease: bool = True) -> np.ndarray:
        """Piecewise motion through (time, value) keys, eased (or linear), constant outside them."""
        return keyframes(self.t, points, ease)

    def fall(self, t0: float, y0: float, y1: float, g: float | None = None) -> np.ndarray:
        """Free fall from y0 starting at t0, stopping at y1 (gravity in px per unit time squared)."""
        g = self.u(450, 750) if g is None else g
        dt = np.clip(self.t - t0, 0.0, None)
        return np.minimum(y0 + 0.5 * g * dt ** 2, y1) if y1 >= y0 else np.full(self.T, y0)

    def after(self, t0: float) -> np.ndarray:
        return self.t >= t0

    # --- output -------------------------------------------------------------------------------
    def render(self) -> np.ndarray:
        for h in self.hands:
            h.finalize()
        return rasterise(self.actors, self.camera, self.backdrop, self.look, self.rng, self.T, self.S)
