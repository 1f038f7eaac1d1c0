"""One script per rendered SSv2 label: builds the scene the label's text describes.

Scripts receive a fresh `Scene` (backdrop, lighting, camera shake already drawn) and add the actors
and their tracks. Conventions: x grows to the right, y grows downwards, `sc.ground` is the table line,
a larger layer is drawn later (in front). "Behind" = drawn before the reference and further back on
the table (higher, smaller); "in front of" = drawn after it, nearer (lower, larger); the camera moving
"towards" something magnifies everything, something moving towards the camera magnifies only it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from benchmarks.world.render import Actor
from benchmarks.world.scene import Scene

SCRIPTS: dict[str, Callable[[Scene], None]] = {}


def script(*labels: str):
    def register(fn):
        for label in labels:
            if label in SCRIPTS:
                raise ValueError(f"two scripts for {label!r}")
            SCRIPTS[label] = fn
        return fn
    return register


def family(template: dict[str, object], make: Callable[[object], Callable[[Scene], None]]) -> None:
    """Register make(param) for each label -> param of a parametrised family."""
    for label, param in template.items():
        script(label)(make(param))


# --------------------------------------------------------------------------------------------------
# spatial relations (Dropping / Pretending to put / Showing in A; Putting / Holding / Spilling in B)

@dataclass
class Ref:
    x: float
    w: float
    top: float          # y of its top surface
    layer: float
    kind: str
    rim: float = 0.0    # containers: y of the rim
    inner_w: float = 0.0


def reference(sc: Scene, rel: str, x: float) -> Ref:
    """The reference object a relation needs (its kind follows the relation, its look is random)."""
    if rel == "into":
        back, front = sc.container(x)
        return Ref(x, back.w, back.y[0] - back.h, back.layer, "container", rim=front.y[0] - front.h, inner_w=back.w)
    if rel == "underneath":
        top = sc.bridge(x)[0]
        return Ref(x, top.w, top.y[0] - top.h, top.layer, "bridge")
    if rel in ("onto", "on top of"):
        a = sc.box(x) if sc.rng.random() < 0.7 else sc.thing(x, size=(5, 8), shapes=("rect", "hex"), layer=1.5)
    elif rel in ("behind", "in front of"):
        a = sc.tall_thing(x)
    else:
        a = sc.choice((sc.box, sc.tall_thing, lambda x: sc.thing(x, size=(4, 7), layer=1.5)))(x)
    return Ref(x, a.w, a.y[0] - a.h, a.layer, "thing")


def place(sc: Scene, rel: str, ref: Ref, obj: Actor) -> tuple[float, float, float, float]:
    """Final (x, y, layer, scale) of obj standing in relation rel to ref."""
    if rel == "behind":
        s = sc.u(0.75, 0.9)
        return ref.x + sc.sign() * sc.u(0.5, 0.9) * ref.w, sc.ground - sc.u(3, 5) - obj.h * s, ref.layer - 0.3, s
    if rel == "in front of":
        s = sc.u(1.05, 1.2)
        return ref.x + sc.u(-0.3, 0.3) * ref.w, sc.ground + sc.u(3, 5) - obj.h * s, ref.layer + 1.0, s
    if rel == "next to":
        return ref.x + sc.sign() * (ref.w + obj.w + sc.u(1.5, 4)), sc.ground - obj.h, ref.layer + 0.2, 1.0
    if rel in ("onto", "on top of"):
        return ref.x + sc.u(-0.3, 0.3) * ref.w, ref.top - obj.h, ref.layer + 1.0, 1.0
    if rel == "into":
        s = min(1.0, 0.8 * ref.inner_w / obj.w)
        return ref.x, ref.rim + obj.h * s + 1.0, ref.layer + 0.25, s
    if rel == "underneath":
        return ref.x + sc.u(-2, 2), sc.ground - obj.h, ref.layer + 0.2, 1.0
    if rel == "on a surface":
        return ref.x, sc.ground - obj.h, 2.0, 1.0
    if rel == "over":
        return ref.x + sc.u(-2, 2), ref.top - sc.u(4, 8) - obj.h, ref.layer + 1.0, 1.0
    raise KeyError(rel)


def small_thing(sc: Scene, rel: str) -> Actor:
    size = (2.5, 4.0) if rel in ("behind", "into", "underneath") else (3.0, 5.0)
    return sc.thing(0.0, size=size)


def carry(sc: Scene, rel: str, mode: str) -> None:
    """Hand brings something to its place by rel: put (leave it), drop (release above, it falls) or
    pretend (bring it there, then take it back)."""
    if rel == "on a surface":
        ref = Ref(sc.cx0 + sc.u(-4, 4), 0, sc.ground, 1.5, "none")
    else:
        ref = reference(sc, rel, sc.cx0 + sc.u(-4, 4))
    obj = small_thing(sc, rel)
    fx, fy, layer, fs = place(sc, rel, ref, obj)
    obj.layer = layer
    side = sc.sign()
    above = min(fy, ref.top - obj.h)
    sx, sy = fx + side * sc.u(10, 18), above - sc.u(10, 16)
    t_arr = sc.u(0.3, 0.5)
    t_rel = t_arr + sc.u(0.08, 0.15)
    t_end = min(1.0, t_rel + sc.u(0.25, 0.4))
    grip = obj.h + 1.0
    hand = sc.hand(sx, sy - grip, sc.choice(("up", "up", "left" if side < 0 else "right")))
    if mode == "drop":
        dy = above - sc.u(8, 14)
        hx = sc.key((0, sx), (t_arr, fx), (t_rel, fx), (t_end, fx + side * sc.u(4, 8)))
        hy = sc.key((0, sy), (t_arr, dy), (t_rel, dy), (t_end, dy - sc.u(6, 12)))
        obj.x = np.where(sc.t < t_rel, hx, fx)
        obj.y = np.where(sc.t < t_rel, hy + grip, sc.fall(t_rel, dy + grip, fy))
        obj.scale = sc.key((t_rel, 1.0), (t_rel + 0.12, fs))
    elif mode == "put":
        hx = sc.key((0, sx), (t_arr, fx), (t_rel, fx), (t_end, sx + sc.u(-4, 4)))
        hy = sc.key((0, sy), (t_arr, fy - grip * fs), (t_rel, fy - grip * fs), (t_end, sy - sc.u(0, 6)))
        obj.x, obj.y = np.full(sc.T, fx), np.full(sc.T, fy)
        obj.scale = sc.key((0, 1.0), (t_arr, fs))
        obj.x = np.where(sc.t < t_rel, hx, fx)
        obj.y = np.where(sc.t < t_rel, hy + grip * obj.scale, fy)
    else:  # pretend: reaches the place, never lets go, takes it back
        near = sc.u(0.0, 1.5)
        t_back = t_rel + sc.u(0.0, 0.1)
        bx, by = sx + sc.u(-5, 5), sy + sc.u(-4, 4)
        hx = sc.key((0, sx), (t_arr, fx), (t_back, fx), (min(1.0, t_back + sc.u(0.3, 0.45)), bx))
        hy = sc.key((0, sy), (t_arr, fy - grip * fs - near), (t_back, fy - grip * fs - near),
                    (min(1.0, t_back + sc.u(0.3, 0.45)), by))
        obj.scale = sc.key((0, 1.0), (t_arr, fs), (t_back, fs), (min(1.0, t_back + 0.4), 1.0))
        obj.x, obj.y = hx, hy + grip * obj.scale
    hand.set(x=hx, y=hy, scale=obj.scale)
    if rel == "behind":
        hand.set(layer=layer + 0.1)


def hold_still(sc: Scene, rel: str | None) -> None:
    """A hand holds something still in the air (in relation rel to a reference)."""
    if rel is None:
        x, y = sc.cx0 + sc.u(-5, 5), sc.u(18, 32)
        obj = sc.thing(x)
        obj.y[:] = y
        layer, s = 3.0, 1.0
    else:
        ref = reference(sc, "onto" if rel == "over" else rel, sc.cx0 + sc.u(-4, 4))
        obj = small_thing(sc, rel)
        if rel == "behind":
            x, y, layer, s = ref.x + sc.u(-2, 2), ref.top - obj.h * sc.u(0.0, 0.6), ref.layer - 0.3, sc.u(0.75, 0.9)
        elif rel == "in front of":
            x, y, layer, s = ref.x + sc.u(-2, 2), ref.top + obj.h * sc.u(0.6, 1.2), ref.layer + 1.0, sc.u(1.05, 1.2)
        elif rel == "next to":
            x = ref.x + sc.sign() * (ref.w + obj.w + sc.u(1.5, 4))
            y, layer, s = ref.top - sc.u(-1, 6), ref.layer, 1.0
        else:  # over
            x, y, layer, s = ref.x + sc.u(-2, 2), ref.top - obj.h - sc.u(4, 9), ref.layer + 1.0, 1.0
        obj.layer = layer
    jx = np.cumsum(sc.rng.normal(0, 0.35, sc.T))
    jy = np.cumsum(sc.rng.normal(0, 0.35, sc.T))
    obj.x, obj.y, obj.scale = x + jx, y + jy, np.full(sc.T, s)
    grip = (obj.h + 1.0) * s
    hand = sc.hand(obj.x, obj.y - grip, sc.choice(("up", "left", "right")), layer=layer + 0.1)
    hand.set(scale=s)


def show(sc: Scene, rel: str) -> None:
    """Two things standing in relation rel, no hand; the camera drifts slowly to show them."""
    ref = reference(sc, rel, sc.cx0 + sc.u(-4, 4))
    obj = small_thing(sc, rel)
    fx, fy, layer, fs = place(sc, rel, ref, obj)
    obj.x[:], obj.y[:], obj.scale[:], obj.layer = fx, fy, fs, layer
    cam = sc.camera
    cam.cx += sc.key((0, 0), (1, sc.u(-4, 4)))
    cam.cy += sc.key((0, 0), (1, sc.u(-3, 3)))
    cam.zoom *= sc.key((0, 1.0), (1, sc.u(0.95, 1.12)))


RELATIONS = ("behind", "in front of", "into", "next to", "onto", "underneath")
family({f"Dropping something {r} something": r for r in ("behind", "in front of", "into", "next to", "onto")},
       lambda r: lambda sc: carry(sc, r, "drop"))
family({f"Putting something {r} something": r for r in RELATIONS}, lambda r: lambda sc: carry(sc, r, "put"))
family({f"Pretending to put something {r} something": r
        for r in ("behind", "into", "next to", "onto", "underneath")},
       lambda r: lambda sc: carry(sc, r, "pretend"))
script("Pretending to put something on a surface")(lambda sc: carry(sc, "on a surface", "pretend"))
family({f"Holding something {r} something": r for r in ("behind", "in front of", "next to", "over")},
       lambda r: lambda sc: hold_still(sc, r))
script("Holding something")(lambda sc: hold_still(sc, None))
family({"Showing something behind something": "behind", "Showing something next to something": "next to",
        "Showing something on top of something": "on top of"}, lambda r: lambda sc: show(sc, r))


def spill(sc: Scene, rel: str) -> None:
    """A hand tips a cup over a place; drops of something run out and land by rel."""
    ref = reference(sc, "onto" if rel == "onto" else "behind" if rel == "behind" else "next to",
                    sc.cx0 + sc.u(-3, 3))
    side = sc.sign()
    if rel == "onto":
        land_x, land_y, layer = ref.x, ref.top, ref.layer + 1.0
    elif rel == "behind":
        land_x, land_y, layer = ref.x, sc.ground - sc.u(3, 5), ref.layer - 0.3
    else:
        land_x, land_y, layer = ref.x + side * (ref.w + sc.u(4, 7)), sc.ground, ref.layer + 1.0
    cw, ch = sc.u(2.5, 3.5), sc.u(3.5, 5)
    cup_x, cup_y = land_x - side * sc.u(3, 6), min(land_y, ref.top) - sc.u(12, 17)
    cup = sc.add("rect", cw, ch, cup_x, cup_y, layer=4.0)
    t0 = sc.u(0.1, 0.25)
    t_pour = t0 + sc.u(0.15, 0.25)
    cup.angle = sc.key((t0, 0.0), (t_pour, side * sc.u(1.7, 2.2)))
    hand = sc.hand(cup_x - side * (cw + 2), cup_y, "left" if side > 0 else "right", layer=4.1)
    hand.set(x=cup.x - side * (cw + 2.0))
    liquid = sc.color()
    for k in range(int(sc.rng.integers(8, 14))):
        ts = t_pour + k * sc.u(0.02, 0.05) - 0.05
        lip_x, lip_y = cup_x + side * (ch * 0.9), cup_y + cw * 0.5
        tx = land_x + sc.u(-2.5, 2.5)
        ty = land_y - sc.u(0.3, 1.5)
        y = sc.fall(ts, lip_y, ty, g=sc.u(500, 800))
        frac = np.clip((y - lip_y) / max(ty - lip_y, 1e-6), 0, 1)
        x = lip_x + (tx - lip_x) * frac
        r = sc.u(0.6, 1.1)
        sc.add("ellipse", r * 1.3, r, x, y, color=liquid * sc.u(0.85, 1.1), layer=layer, pattern="plain",
               alpha=(sc.t >= ts).astype(float))


family({f"Spilling something {r} something": r for r in ("behind", "next to", "onto")},
       lambda r: lambda sc: spill(sc, r))


# --------------------------------------------------------------------------------------------------
# pushing (A) and pulling (B)

def table_edge(sc: Scene, side: int, x: float) -> None:
    sc.backdrop.edge_x, sc.backdrop.edge_side = x, side


def push(sc: Scene, kind: str) -> None:
    d = {"left to right": 1, "right to left": -1}.get(kind, sc.sign())
    obj = sc.spinner(sc.cx0 - d * sc.u(6, 10)) if kind == "spins" else sc.thing(sc.cx0 - d * sc.u(6, 10))
    x0, y0 = obj.x[0], obj.y[0]
    t_c = sc.u(0.15, 0.35)
    t_e = min(0.95, t_c + sc.u(0.35, 0.55))
    dist = d * {"slightly": sc.u(1.5, 3.5), "spins": sc.u(0.0, 2.5)}.get(kind, sc.u(12, 20))
    tool = kind == "with"
    contact_y = y0 + (-obj.h * 0.6 * sc.sign() if kind == "spins" else sc.u(-0.3, 0.3) * obj.h)
    reach = obj.w + (sc.u(8, 11) if tool else 3.0)
    if kind == "onto":
        ref = sc.box(x0 + d * (obj.w + sc.u(9, 11)), h=(1.5, 3.0), w=(6, 9))
        dist = (ref.x[0] - x0) + d * sc.u(-2, 2)
    if kind == "off of":
        ref = sc.box(x0 + d * sc.u(1, 3), h=(2.5, 4.5))
        y0 = ref.y[0] - ref.h - obj.h
        dist = ref.x[0] + d * (ref.w + obj.w + sc.u(1, 4)) - x0
    if kind in ("almost falls off", "falls off"):
        table_edge(sc, d, x0 + d * (obj.w + sc.u(10, 16)))
        edge = sc.backdrop.edge_x
        dist = edge - x0 - d * obj.w * sc.u(0.2, 0.5) if kind == "almost falls off" else edge - x0 + d * obj.w * 1.3
    x = sc.key((t_c, x0), (t_e, x0 + dist), ease=False) if kind not in ("slightly", "spins") else \
        sc.key((t_c, x0), (t_e, x0 + dist))
    y = np.full(sc.T, y0)
    if kind == "onto":
        climb = (ref.y[0] - ref.h) - (sc.ground) 
        y = y0 + np.clip((x - x0) * d - (abs(ref.x[0] - x0) - ref.w - obj.w * 0.5), 0, obj.w) / obj.w * climb
    if kind == "off of":
        over = d * (x - (ref.x[0] + d * ref.w)) > 0
        t_off = sc.t[np.argmax(over)] if over.any() else 1.0
        y = np.where(over, sc.fall(t_off, y0, sc.ground - obj.h), y0)
    if kind == "falls off":
        past = d * (x - sc.backdrop.edge_x) > obj.w * 0.6
        t_off = sc.t[np.argmax(past)] if past.any() else 1.0
        y = np.where(past, sc.fall(t_off, y0, y0 + 60), y0)
        obj.angle = np.where(past, d * (sc.t - t_off) * sc.u(4, 8), 0.0)
    if kind == "spins":
        obj.angle = sc.key((t_c, 0.0), (min(1.0, t_e + 0.1), sc.sign() * sc.u(2.5, 5.0)))
    obj.x, obj.y = x, y
    hx_contact = x0 - d * reach
    hand_x = np.where(sc.t < t_c, sc.key((0, hx_contact - d * sc.u(4, 8)), (t_c, hx_contact)), x - d * reach)
    if kind == "falls off":
        hand_x = np.where(sc.t < t_e, hand_x, sc.key((t_e, x0 + dist - d * reach)))
    hand_x = np.where(sc.t > t_e, hand_x[np.argmin(np.abs(sc.t - t_e))] - d * (sc.t - t_e) * sc.u(5, 15), hand_x)
    hand_y = np.full(sc.T, contact_y)
    if kind == "onto":
        hand_y = contact_y + (y - y0)
    side = sc.choice(("left" if d > 0 else "right", "up", "down"))
    hand = sc.hand(hand_x, hand_y, side, layer=4.0)
    if tool:
        stick_len = sc.u(4, 5.5)
        sc.add("rect", stick_len, sc.u(0.6, 1.0), hand_x + d * (stick_len + 1.0), hand_y, layer=3.9,
               pattern="plain")
        hand.set(x=hand_x - d * 1.5)


family({"Pushing something from left to right": "left to right",
        "Pushing something from right to left": "right to left",
        "Pushing something off of something": "off of",
        "Pushing something onto something": "onto",
        "Pushing something so it spins": "spins",
        "Pushing something so that it almost falls off but doesn't": "almost falls off",
        "Pushing something so that it falls off the table": "falls off",
        "Pushing something so that it slightly moves": "slightly",
        "Pushing something with something": "with"}, lambda k: lambda sc: push(sc, k))


def pull(sc: Scene, kind: str) -> None:
    d = {"left to right": 1, "right to left": -1}.get(kind, sc.sign())
    t_c = sc.u(0.15, 0.3)
    t_e = min(0.95, t_c + sc.u(0.4, 0.55))
    if kind == "out of":
        back, front = sc.container(sc.cx0 + sc.u(-4, 4), h=(6, 8))
        obj = sc.thing(back.x[0], size=(2.5, 3.5), layer=back.layer + 0.25)
        y_in = front.y[0] - front.h + obj.h * 0.6
        x = sc.key((t_c, back.x[0]), (t_c + 0.5 * (t_e - t_c), back.x[0]), (t_e, back.x[0] + d * sc.u(8, 14)))
        y = sc.key((t_c, y_in), (t_c + 0.5 * (t_e - t_c), back.y[0] - back.h - obj.h - 2), (t_e, y_in - sc.u(10, 16)))
        grip_x, grip_y = 0.0, -(obj.h + 1.0)
        side = "up"
    elif kind == "from behind of":
        ref = sc.tall_thing(sc.cx0 + sc.u(-3, 3))
        obj = sc.thing(ref.x[0], size=(2.5, 4.0), layer=ref.layer - 0.3)
        yb = sc.ground - sc.u(3, 5) - obj.h
        x = sc.key((t_c, ref.x[0]), (t_e, ref.x[0] + d * (ref.w + obj.w + sc.u(4, 9))))
        y = sc.key((t_c, yb), (t_e, sc.ground + sc.u(2, 4) - obj.h))
        obj.scale = sc.key((t_c, 0.85), (t_e, 1.05))
        grip_x, grip_y = d * obj.w * 0.8, 0.0
        side = "left" if d < 0 else "right"
    else:
        obj = sc.thing(sc.cx0 - d * sc.u(6, 10))
        x0, y0 = obj.x[0], obj.y[0]
        dist = sc.u(12, 20)
        x = sc.key((t_c, x0), (t_e, x0 + d * dist), ease=False)
        y = np.full(sc.T, y0)
        if kind == "onto":
            ref = sc.box(x0 + d * (obj.w + sc.u(9, 11)), h=(1.5, 3.0), w=(6, 9))
            dist = abs(ref.x[0] - x0) + sc.u(-2, 2)
            x = sc.key((t_c, x0), (t_e, x0 + d * dist), ease=False)
            climb = (ref.y[0] - ref.h) - sc.ground
            y = y0 + np.clip((x - x0) * d - (abs(ref.x[0] - x0) - ref.w - obj.w * 0.5), 0, obj.w) / obj.w * climb
        grip_x, grip_y = d * obj.w * 0.8, sc.u(-0.3, 0.3) * obj.h
        side = sc.choice(("left" if d < 0 else "right", "up", "down"))
    obj.x, obj.y = x, y
    hx = np.where(sc.t < t_c, sc.key((0, x[0] + grip_x + d * sc.u(4, 8)), (t_c, x[0] + grip_x)), x + grip_x)
    hy = np.where(sc.t < t_c, sc.key((0, y[0] + grip_y - sc.u(3, 8)), (t_c, y[0] + grip_y)), y + grip_y)
    hand = sc.hand(hx, hy, side, layer=obj.layer + 0.1 if kind == "from behind of" else 4.0)
    hand.set(scale=obj.scale)


family({"Pulling something from behind of something": "from behind of",
        "Pulling something from left to right": "left to right",
        "Pulling something from right to left": "right to left",
        "Pulling something onto something": "onto",
        "Pulling something out of something": "out of"}, lambda k: lambda sc: pull(sc, k))


# --------------------------------------------------------------------------------------------------
# moving something (B), moving the camera (B), moving something and something (A)

def move(sc: Scene, kind: str) -> None:
    t0 = sc.u(0.1, 0.3)
    t1 = min(1.0, t0 + sc.u(0.45, 0.65))
    if kind in ("away from something", "closer to something"):
        ref = sc.thing(sc.cx0 + sc.u(-3, 3), size=(4, 7), layer=1.5)
        obj = sc.thing(0.0)
        d = sc.sign()
        near = ref.x[0] + d * (ref.w + obj.w + sc.u(0.5, 2))
        far = near + d * sc.u(12, 18)
        a, b = (near, far) if kind == "away from something" else (far, near)
        obj.x = sc.key((t0, a), (t1, b))
        grip = obj.h + 1.0
        hand = sc.hand(obj.x, obj.y - grip, sc.choice(("up", "up", "left" if d < 0 else "right")))
        return
    obj = sc.thing(sc.cx0 + sc.u(-6, 6), layer=3.0)
    y_mid = sc.u(20, 30)
    grip = obj.h + 1.0
    if kind in ("up", "down"):
        dist = sc.u(10, 16)
        a, b = (y_mid + dist / 2, y_mid - dist / 2) if kind == "up" else (y_mid - dist / 2, y_mid + dist / 2)
        obj.y = sc.key((t0, a), (t1, b))
        obj.x = obj.x + sc.key((t0, 0), (t1, sc.u(-2, 2)))
    else:
        big = sc.u(1.8, 2.4)
        a, b = (1.0, big) if kind == "towards the camera" else (big, 1.0)
        obj.scale = sc.key((t0, a), (t1, b))
        obj.y = y_mid + (obj.scale - 1.0) * sc.u(2, 5)
    hand = sc.hand(obj.x, obj.y - grip * obj.scale, sc.choice(("up", "left", "right")), layer=3.1)
    hand.set(scale=obj.scale)


family({f"Moving something {k}": k for k in ("away from something", "away from the camera",
                                              "closer to something", "down", "towards the camera", "up")},
       lambda k: lambda sc: move(sc, k))


def camera(sc: Scene, kind: str) -> None:
    things = [sc.thing(sc.cx0 + sc.u(-4, 4), layer=2.0)]
    for _ in range(int(sc.rng.integers(0, 3))):
        things.append(sc.thing(sc.cx0 + sc.choice((-1, 1)) * sc.u(10, 18), layer=1.8))
    sc.distractors(int(sc.rng.integers(1, 3)))
    t0 = sc.u(0.0, 0.2)
    t1 = min(1.0, t0 + sc.u(0.55, 0.8))
    cam = sc.camera
    if kind in ("approach", "away"):
        target = things[0]
        big = sc.u(1.6, 2.1)
        z = sc.key((t0, 1.0), (t1, big)) if kind == "approach" else sc.key((t0, big), (t1, 1.0))
        cam.zoom *= z
        frac = (z - 1.0) / (big - 1.0)
        cam.cx += (target.x[0] - cam.cx[0]) * frac
        cam.cy += (target.y[0] - cam.cy[0]) * frac
        return
    pan = sc.u(10, 16)
    shift = sc.key((t0, 0.0), (t1, pan))
    if kind == "left":
        cam.cx -= shift
    elif kind == "right":
        cam.cx += shift
    elif kind == "upwards":
        cam.cy -= shift
    else:
        cam.cy += shift


family({"Approaching something with your camera": "approach",
        "Moving away from something with your camera": "away",
        "Turning the camera downwards while filming something": "downwards",
        "Turning the camera left while filming something": "left",
        "Turning the camera right while filming something": "right",
        "Turning the camera upwards while filming something": "upwards"}, lambda k: lambda sc: camera(sc, k))


def two_things(sc: Scene, kind: str, hands: bool) -> None:
    """Two things moved along the table: by hands (Moving something and something) or sliding on
    their own (Something colliding with something)."""
    a = sc.thing(0.0, size=(3, 5), layer=2.0)
    b = sc.thing(0.0, size=(3, 5), layer=2.2)
    t0 = sc.u(0.05, 0.25)
    t1 = min(1.0, t0 + sc.u(0.35, 0.5))
    c = sc.cx0
    touch = (a.w + b.w) / 2
    if kind == "apart":
        a.x = sc.key((t0, c - touch - 0.5), (t1, c - touch - sc.u(7, 11)))
        b.x = sc.key((t0, c + touch + 0.5), (t1, c + touch + sc.u(7, 11)))
    elif kind == "closer":
        a.x = sc.key((t0, c - touch - sc.u(7, 11)), (t1, c - touch - 1.0))
        b.x = sc.key((t0, c + touch + sc.u(7, 11)), (t1, c + touch + 1.0))
    elif kind == "pass":
        a.x = sc.key((t0, c - sc.u(8, 12)), (t1 + 0.1, c + sc.u(8, 12)), ease=False)
        b.x = sc.key((t0, c + sc.u(8, 12)), (t1 + 0.1, c - sc.u(8, 12)), ease=False)
        a.y = a.y - sc.u(4, 6)
        a.scale[:], b.scale[:] = 0.85, 1.1
        b.y = b.y + sc.u(2, 3)
    else:  # collide / halt / deflect / both deflected
        ta = t0 + (t1 - t0) * 0.6
        ea = c - a.w - 0.2
        eb = c + b.w + 0.2
        sa = ea - sc.u(9, 14)
        sb = eb + sc.u(9, 14) if kind != "deflect" else eb
        a.x = sc.key((t0, sa), (ta, ea), ease=False)
        b.x = sc.key((t0, sb), (ta, eb), ease=False)
        if kind in ("collide", "both deflected"):
            back = sc.u(2, 4) if kind == "collide" else sc.u(6, 10)
            a.x = np.where(sc.t > ta, sc.key((ta, ea), (min(1.0, ta + 0.3), ea - back)), a.x)
            b.x = np.where(sc.t > ta, sc.key((ta, eb), (min(1.0, ta + 0.3), eb + back)), b.x)
            if kind == "both deflected":
                a.y = a.y + sc.key((ta, 0), (min(1.0, ta + 0.3), sc.u(-4, 4)))
                b.y = b.y + sc.key((ta, 0), (min(1.0, ta + 0.3), sc.u(-4, 4)))
        if kind == "deflect":
            slope = sc.choice((-1, 1)) * sc.u(0.7, 1.3)
            v = (ea - sa) / (ta - t0)
            dt = np.clip(sc.t - ta, 0, None)
            a.x = np.where(sc.t > ta, ea - 0.4 * v * dt, a.x)
            a.y = np.where(sc.t > ta, a.y - slope * 0.6 * v * dt * -1, a.y)
        if sc.rng.random() < 0.5:  # mirror: b may be the one coming from the left
            a.x, b.x = 2 * c - a.x, 2 * c - b.x
    if hands:
        for obj, side in ((a, "left"), (b, "right")):
            left = obj.x[0] < c
            hs = sc.hand(obj.x + (-1 if left else 1) * (obj.w + 1.5), obj.y, "left" if left else "right",
                         layer=obj.layer + 1)
            hs.set(scale=obj.scale)


family({"Moving something and something away from each other": "apart",
        "Moving something and something closer to each other": "closer",
        "Moving something and something so they collide with each other": "collide",
        "Moving something and something so they pass each other": "pass"},
       lambda k: lambda sc: two_things(sc, k, hands=True))
family({"Something being deflected from something": "deflect",
        "Something colliding with something and both are being deflected": "both deflected",
        "Something colliding with something and both come to a halt": "halt"},
       lambda k: lambda sc: two_things(sc, k, hands=False))


def across(sc: Scene, falls: bool) -> None:
    """Moving something across a surface: the palm rides on top of it, towards the table edge."""
    d = sc.sign()
    obj = sc.thing(sc.cx0 - d * sc.u(8, 12))
    x0 = obj.x[0]
    edge = x0 + d * (obj.w + sc.u(14, 20))
    table_edge(sc, d, edge)
    t0 = sc.u(0.1, 0.25)
    t1 = min(0.9, t0 + sc.u(0.35, 0.5))
    x1 = edge + d * obj.w * 1.3 if falls else edge - d * (obj.w + sc.u(3, 7))
    obj.x = sc.key((t0, x0), (t1, x1))
    if falls:
        obj.y = sc.fall(t1 - 0.05, obj.y[0], obj.y[0] + 60)
        obj.angle = np.clip(sc.t - t1, 0, None) * d * sc.u(4, 8)
    grip = obj.h + 1.0
    hx = np.where(sc.t <= t1, obj.x, x1 - d * sc.key((t1, 0), (1, sc.u(3, 8))))
    sc.hand(hx, obj.y[0] - grip, sc.choice(("up", "left" if d < 0 else "right")), layer=4.0)


script("Moving something across a surface until it falls down")(lambda sc: across(sc, True))
script("Moving something across a surface without it falling down")(lambda sc: across(sc, False))


# --------------------------------------------------------------------------------------------------
# poking (B), pretending to poke, poking a stack (A)

def poke(sc: Scene, kind: str) -> None:
    d = sc.sign()
    if kind == "falls over":
        obj = sc.thing(sc.cx0 + sc.u(-4, 4), tall=True, pattern="stripes")
    elif kind == "spins":
        obj = sc.spinner(sc.cx0 + sc.u(-4, 4))
    else:
        obj = sc.thing(sc.cx0 + sc.u(-4, 4))
    x0, y0 = obj.x[0], obj.y[0]
    t_c = sc.u(0.3, 0.5)
    gap = sc.u(2.5, 4.5) if kind == "pretend" else 0.0
    contact_y = y0 + (-obj.h * 0.6 if kind == "falls over" else sc.u(-0.3, 0.3) * obj.h)
    hx0 = x0 - d * (obj.w + 1.5 + gap)
    far = hx0 - d * sc.u(7, 11)
    t_back = min(1.0, t_c + sc.u(0.1, 0.2))
    hx = sc.key((0, far), (t_c, hx0), (t_back, far + d * sc.u(-2, 2)), ease=False)
    if kind == "slightly":
        obj.x = sc.key((t_c, x0), (t_c + 0.15, x0 + d * sc.u(1.5, 3.0)))
    elif kind == "lightly":
        obj.x = x0 + sc.key((t_c, 0), (t_c + 0.07, d * 0.3), (t_c + 0.14, 0))
    elif kind == "spins":
        obj.angle = sc.key((t_c, 0), (min(1.0, t_c + sc.u(0.3, 0.5)), d * sc.u(2.5, 5)))
    elif kind == "falls over":
        theta = sc.key((t_c, 0.0), (min(1.0, t_c + sc.u(0.2, 0.35)), d * np.pi / 2))
        px, py = x0 + d * obj.w, sc.ground
        vx, vy = -d * obj.w, -obj.h
        obj.x = px + np.cos(theta) * vx - np.sin(theta) * vy
        obj.y = py + np.sin(theta) * vx + np.cos(theta) * vy
        obj.angle = theta
    sc.hand(hx, contact_y, sc.choice(("left" if d > 0 else "right", "up")), finger=True, layer=4.0)


family({"Poking something so it slightly moves": "slightly",
        "Poking something so lightly that it doesn't or almost doesn't move": "lightly",
        "Poking something so that it falls over": "falls over",
        "Poking something so that it spins around": "spins",
        "Pretending to poke something": "pretend"}, lambda k: lambda sc: poke(sc, k))


def poke_stack(sc: Scene, collapses: bool) -> None:
    d = sc.sign()
    x0 = sc.cx0 + sc.u(-4, 4)
    n = int(sc.rng.integers(3, 5))
    w, h = sc.u(3.5, 5.0), sc.u(1.6, 2.4)
    blocks = []
    for k in range(n):
        b = sc.add("rect", w * sc.u(0.85, 1.1), h, x0 + sc.u(-0.6, 0.6), sc.ground - h - 2 * h * k, layer=2 + 0.01 * k)
        blocks.append(b)
    t_c = sc.u(0.3, 0.5)
    hit = int(sc.rng.integers(1, n))
    contact_y = blocks[hit].y[0]
    hx0 = x0 - d * (w + 1.5)
    far = hx0 - d * sc.u(7, 11)
    sc.hand(sc.key((0, far), (t_c, hx0), (min(1.0, t_c + 0.2), far), ease=False), contact_y,
            sc.choice(("left" if d > 0 else "right", "up")), finger=True, layer=4.0)
    for k, b in enumerate(blocks):
        if collapses and k >= hit:
            tk = t_c + 0.02 * (k - hit)
            b.x = b.x[0] + d * sc.key((tk, 0), (min(1.0, tk + 0.3), sc.u(3, 9) + 2 * (k - hit)))
            rest = sc.ground - h - 2 * h * max(0, k - hit - 1) * 0.3
            b.y = np.where(sc.t > tk, sc.fall(tk, b.y[0], rest), b.y)
            b.angle = d * sc.key((tk, 0), (min(1.0, tk + 0.3), sc.u(0.3, 1.5)))
        elif not collapses and k == hit:
            b.x = b.x[0] + d * sc.key((t_c, 0), (t_c + 0.1, sc.u(0.3, 0.8)))


script("Poking a stack of something so the stack collapses")(lambda sc: poke_stack(sc, True))
script("Poking a stack of something without the stack collapsing")(lambda sc: poke_stack(sc, False))


# --------------------------------------------------------------------------------------------------
# lifting, tilting, tipping (A and B)

def lift_completely(sc: Scene, drops: bool) -> None:
    obj = sc.thing(sc.cx0 + sc.u(-5, 5))
    y0 = obj.y[0]
    grip = obj.h + 1.0
    t_g = sc.u(0.15, 0.3)
    t_up = t_g + sc.u(0.2, 0.3)
    top = y0 - sc.u(14, 20)
    hy = sc.key((0, y0 - grip - sc.u(8, 14)), (t_g, y0 - grip), (t_up, top - grip))
    obj.y = np.where(sc.t < t_g, y0, hy + grip)
    if drops:
        t_r = t_up + sc.u(0.05, 0.15)
        obj.y = np.where(sc.t < t_r, obj.y, sc.fall(t_r, top, y0))
        hy = np.where(sc.t < t_r, hy, top - grip - sc.key((t_r, 0), (1, sc.u(0, 3))))
    sc.hand(obj.x, hy, sc.choice(("up", "left", "right")), layer=4.0)


script("Lifting something up completely without letting it drop down")(lambda sc: lift_completely(sc, False))
script("Lifting something up completely, then letting it drop down")(lambda sc: lift_completely(sc, True))


def lift_end(sc: Scene, kind: str) -> None:
    """A plank lifted at one end about the other (Lifting up one end / Tilting ... with something on it)."""
    p = sc.plank(sc.cx0 + sc.u(-3, 3))
    d = sc.sign()                                  # the lifted end
    px, py = p.x[0] - d * p.w, sc.ground           # pivot: the other end's bottom corner
    t0 = sc.u(0.1, 0.25)
    t1 = t0 + sc.u(0.25, 0.35)
    big = {"slightly": sc.u(0.15, 0.3), "falls off": sc.u(0.55, 0.8)}.get(kind, sc.u(0.35, 0.7))
    theta = sc.key((t0, 0.0), (t1, big))
    if kind == "drop":
        t_r = t1 + sc.u(0.05, 0.15)
        theta = np.where(sc.t < t_r, theta, big * np.clip(1 - ((sc.t - t_r) / 0.12) ** 2, 0, 1))
    ang = -d * theta
    c, s = np.cos(ang), np.sin(ang)
    vx, vy = d * p.w, -p.h                         # pivot -> plank centre in the plank frame
    p.x, p.y, p.angle = px + c * vx - s * vy, py + s * vx + c * vy, ang
    end_x, end_y = px + c * (2 * vx) - s * vy, py + s * (2 * vx) + c * vy
    hy = end_y - sc.u(1, 2)
    if kind == "drop":
        hy = np.where(sc.t < t_r, hy, hy[np.argmax(sc.t >= t_r) - 1])
    sc.hand(end_x, hy, "up" if sc.rng.random() < 0.6 else ("right" if d > 0 else "left"), layer=4.0)
    if kind in ("slightly", "falls off"):
        obj = sc.thing(0.0, size=(2.5, 4.0), layer=2.0)
        along = p.w * sc.u(0.9, 1.3)               # distance from the pivot along the plank
        if kind == "falls off":
            t_s = t0 + (t1 - t0) * 0.6
            along = along - np.clip(sc.t - t_s, 0, None) ** 2 * sc.u(250, 400)
        along = np.broadcast_to(along, sc.T)
        nx, ny = s, -c                              # plank normal (up)
        ox = px + c * d * along + nx * (2 * p.h + obj.h)
        oy = py + s * d * along + ny * (2 * p.h + obj.h)
        off = d * along < -obj.w                   # slid past the pivot end: falls to the table
        if kind == "falls off" and off.any():
            t_off = sc.t[np.argmax(off)]
            i = np.argmax(off)
            ox = np.where(off, ox[i] - d * np.clip(sc.t - t_off, 0, None) * sc.u(10, 25), ox)
            oy = np.where(off, sc.fall(t_off, oy[i], sc.ground - obj.h), oy)
        obj.x, obj.y, obj.angle = ox, oy, np.where(d * along < -obj.w, 0.0, ang)


script("Lifting up one end of something without letting it drop down")(lambda sc: lift_end(sc, "hold"))
script("Lifting up one end of something, then letting it drop down")(lambda sc: lift_end(sc, "drop"))
script("Tilting something with something on it slightly so it doesn't fall down")(lambda sc: lift_end(sc, "slightly"))
script("Tilting something with something on it until it falls off")(lambda sc: lift_end(sc, "falls off"))


def lift_stack(sc: Scene) -> None:
    """Lifting something with something on it: both rise together in the hand."""
    base = sc.box(sc.cx0 + sc.u(-4, 4), layer=2.0, w=(5, 8), h=(1.5, 3))
    top = sc.thing(base.x[0] + sc.u(-2, 2), bottom=base.y[0] - base.h, size=(2.5, 4), layer=2.1)
    t_g = sc.u(0.15, 0.3)
    rise = sc.key((t_g, 0.0), (min(1.0, t_g + sc.u(0.3, 0.45)), -sc.u(12, 18)))
    base.y, top.y = base.y + rise, top.y + rise
    d = sc.sign()
    hx = base.x + d * (base.w + 1.5)
    hy = base.y[0] + rise + sc.key((0, -sc.u(5, 9)), (t_g, 0))
    sc.hand(hx, hy, "right" if d > 0 else "left", layer=3.0)


script("Lifting something with something on it")(lift_stack)


def tip(sc: Scene, with_content: bool) -> None:
    d = sc.sign()
    if with_content:
        back, front = sc.container(sc.cx0 + sc.u(-4, 4), w=(3.5, 5), h=(6, 8))
        objs = [back, front]
        w, h = back.w, back.h
        x0 = back.x[0]
    else:
        obj = sc.thing(sc.cx0 + sc.u(-4, 4), tall=True)
        objs, w, h, x0 = [obj], obj.w, obj.h, obj.x[0]
    t0 = sc.u(0.15, 0.3)
    t1 = t0 + sc.u(0.25, 0.4)
    theta = sc.key((t0, 0.0), (t1, d * np.pi / 2))
    px, py = x0 + d * w, sc.ground
    for a in objs:
        vx, vy = 0.0, -a.h
        a.x = px + np.cos(theta) * (vx - d * w) - np.sin(theta) * vy
        a.y = py + np.sin(theta) * (vx - d * w) + np.cos(theta) * vy
        a.angle = theta
    top_x = px + np.cos(theta) * (-d * w) - np.sin(theta) * (-2 * h)
    top_y = py + np.sin(theta) * (-d * w) + np.cos(theta) * (-2 * h)
    sc.hand(top_x - d * 1.5, top_y, sc.choice(("up", "left" if d > 0 else "right")), layer=4.0)
    if with_content:
        col = sc.color()
        for k in range(int(sc.rng.integers(2, 5))):
            r = sc.u(1.0, 1.8)
            tk = t0 + (t1 - t0) * sc.u(0.6, 0.9)
            land = px + d * (2 * h + sc.u(1, 8))
            x = np.where(sc.t < tk, x0, sc.key((tk, x0), (min(1.0, tk + 0.25), land)))
            y = np.where(sc.t < tk, sc.ground - h, sc.key((tk, top_y[np.argmax(sc.t >= tk)]), (min(1.0, tk + 0.2), sc.ground - r)))
            sc.add("ellipse", r, r, x, y, color=col * sc.u(0.8, 1.1), layer=back.layer + 0.25, pattern="plain")


script("Tipping something over")(lambda sc: tip(sc, False))
script("Tipping something with something in it over, so something in it falls out")(lambda sc: tip(sc, True))


# --------------------------------------------------------------------------------------------------
# falling, rolling, spinning, throwing (A and B)

def falling(sc: Scene, feather: bool) -> None:
    x0 = sc.cx0 + sc.u(-6, 6)
    y0 = sc.u(4, 10)
    if feather:
        obj = sc.add("rect", sc.u(3.5, 6), sc.u(0.5, 1.0), x0, y0, layer=3.0)
        land = sc.ground - obj.h
        t0 = sc.u(0.0, 0.15)
        y = sc.key((t0, y0), (1.0, land - sc.u(0, 8)), ease=False)
        amp, freq, ph = sc.u(3, 6), sc.u(1.2, 2.2), sc.u(0, 6.3)
        obj.x = x0 + amp * np.sin(2 * np.pi * freq * sc.t + ph)
        obj.angle = 0.4 * np.cos(2 * np.pi * freq * sc.t + ph)
        obj.y = y
    else:
        obj = sc.thing(x0, layer=3.0)
        land = obj.y[0]
        t0 = sc.u(0.05, 0.4)
        obj.y = sc.fall(t0, y0, land, g=sc.u(700, 1000))
    if sc.rng.random() < 0.5:   # a hand lets it go
        hy = obj.y[0] - obj.h - 1.0
        h = sc.hand(x0 if not feather else obj.x[0], hy, "up", layer=4.0)
        rel = t0 if not feather else 0.0
        h.set(y=np.where(sc.t <= rel, hy, hy - sc.key((rel, 0), (1, sc.u(2, 6)))))


script("Something falling like a feather or paper")(lambda sc: falling(sc, True))
script("Something falling like a rock")(lambda sc: falling(sc, False))


def roll(sc: Scene, kind: str) -> None:
    d = sc.sign()
    if kind in ("down", "up"):
        rises = -d if kind == "down" else d      # ball travels in direction d
        wedge, low, high = sc.slope(sc.cx0 + sc.u(-3, 3), rises)
        ball = sc.ball(0.0)
        r = ball.w
        v = high - low
        length = np.hypot(*v)
        n = np.array([v[1], -v[0]]) / length * (1 if v[0] > 0 else -1)  # surface normal, pointing up
        if n[1] > 0:
            n = -n
        t0 = sc.u(0.1, 0.25)
        if kind == "down":
            s = np.clip(sc.t - t0, 0, None) ** 2 * sc.u(180, 300) / length + sc.u(0.05, 0.15)
            s = 1.0 - s                            # from the high end towards the low end
            on = s >= 0
            pos = low[None] + np.clip(s, 0, 1)[:, None] * v[None] + n[None] * r
            beyond = -np.clip(s, None, 0) * length
            pos[:, 0] = np.where(on, pos[:, 0], low[0] - np.sign(v[0]) * beyond)
            pos[:, 1] = np.where(on, pos[:, 1], sc.ground - r)
            hold_t = t0
        else:
            peak = sc.u(0.5, 0.85)
            t_peak = t0 + sc.u(0.25, 0.35)
            tau = np.clip((sc.t - t0) / (t_peak - t0), 0, None)
            s = np.clip(peak * (1 - (1 - tau) ** 2), 0, None)
            s = np.where(tau <= 0, 0.0, s)
            pos = low[None] + s[:, None] * v[None] + n[None] * r
            pos[:, 0] -= np.where(s < 0.05, np.sign(v[0]) * (1 - s / 0.05) * 0, 0)
            hold_t = t0
        ball.x, ball.y = pos[:, 0], pos[:, 1]
        travel = np.concatenate([[0], np.cumsum(np.hypot(np.diff(ball.x), np.diff(ball.y)) * np.sign(np.diff(ball.x)))])
        ball.angle = travel / r
        hx = np.where(sc.t <= hold_t, ball.x[0] - np.sign(v[0]) * 0 , ball.x[0] - (sc.t - hold_t) * 0)
        hand = sc.hand(hx, ball.y[0] - r - 2.5, "up", layer=4.0)
        hand.set(y=np.where(sc.t <= hold_t, ball.y[0] - r - 2.5, ball.y[0] - r - 2.5 - sc.key((hold_t, 0), (1, sc.u(4, 9)))))
        if kind == "up":
            hand.set(x=np.where(sc.t <= t0 + 0.08, ball.x, ball.x[np.argmax(sc.t > t0 + 0.08)]))
            hand.set(y=np.where(sc.t <= t0 + 0.08, ball.y - r - 2.5, ball.y[np.argmax(sc.t > t0 + 0.08)] - r - 2.5))
        return
    ball = sc.ball(sc.cx0 - d * sc.u(8, 12))
    r = ball.w
    t0 = sc.u(0.1, 0.3)
    dist = sc.u(14, 22)
    if kind == "flat":       # let go: rolls on alone, slowing down
        ball.x = sc.key((t0, ball.x[0]), (1.0, ball.x[0] + d * dist), ease=False)
        tau = np.clip((sc.t - t0) / (1 - t0), 0, 1)
        ball.x = ball.x[0] + d * dist * (1 - (1 - tau) ** 2)
        hx = np.where(sc.t <= t0 + 0.07, ball.x - d * (r + 2), ball.x[np.argmax(sc.t > t0 + 0.07)] - d * (r + 2))
        hy = ball.y - sc.u(0, 2)
        side = "left" if d > 0 else "right"
    else:                    # rolling it: the palm stays on top all along
        ball.x = sc.key((t0, ball.x[0]), (min(1.0, t0 + sc.u(0.5, 0.7)), ball.x[0] + d * dist))
        hx, hy, side = ball.x, ball.y - r - 1.5, sc.choice(("up", "left" if d < 0 else "right"))
    ball.angle = (ball.x - ball.x[0]) / r
    sc.hand(hx, hy, side, layer=4.0)


script("Letting something roll along a flat surface")(lambda sc: roll(sc, "flat"))
script("Letting something roll down a slanted surface")(lambda sc: roll(sc, "down"))
script("Letting something roll up a slanted surface, so it rolls back down")(lambda sc: roll(sc, "up"))
script("Rolling something on a flat surface")(lambda sc: roll(sc, "rolling"))


def spin(sc: Scene, keeps: bool) -> None:
    obj = sc.spinner(sc.cx0 + sc.u(-5, 5))
    t0 = sc.u(0.1, 0.25)
    d = sc.sign()
    w = sc.u(0.5, 0.9) * 15                       # rad per unit time
    dt = np.clip(sc.t - t0, 0, None)
    if keeps:
        obj.angle = d * w * dt
    else:
        stop = sc.u(0.2, 0.35)
        tau = np.clip(dt, 0, stop)
        obj.angle = d * w * (tau - tau ** 2 / (2 * stop))
    hx = obj.x[0] + sc.u(-1, 1) + 2.0 * np.cos(6 * sc.t)
    hy = obj.y[0] - obj.h - 2 - np.where(sc.t < t0, 0.0, (sc.t - t0) * sc.u(15, 30))
    sc.hand(hx, hy, "up", finger=sc.rng.random() < 0.5, layer=4.0)


script("Spinning something so it continues spinning")(lambda sc: spin(sc, True))
script("Spinning something that quickly stops spinning")(lambda sc: spin(sc, False))


def toss_up(sc: Scene, catch: bool) -> None:
    x0 = sc.cx0 + sc.u(-5, 5)
    obj = sc.thing(x0, size=(2.5, 4.0), layer=3.0)
    y_hand = sc.u(28, 34)
    grip = obj.h * 0.6
    t0 = sc.u(0.1, 0.25)
    v = sc.u(90, 130)
    g = 2 * v / sc.u(0.45, 0.6)
    dt = np.clip(sc.t - t0, 0, None)
    y = y_hand - grip - v * dt + 0.5 * g * dt ** 2
    if catch:
        t_land = t0 + 2 * v / g
        y = np.where(sc.t < t_land, np.minimum(y, y_hand - grip), y_hand - grip)
        hy = np.full(sc.T, y_hand)
    else:
        land = sc.ground - obj.h
        y = np.minimum(y, land)
        hy = y_hand + sc.key((t0, 0), (t0 + 0.2, sc.u(3, 6)))
        obj.x = x0 + sc.key((t0, 0), (1, sc.u(-4, 4)))
        hx = x0 + np.where(sc.t > t0 + 0.1, sc.sign() * sc.key((t0 + 0.1, 0), (1, sc.u(4, 8))), 0.0)
    obj.y = y
    throw = -sc.key((t0 - 0.1, 0), (t0, sc.u(3, 6)), (t0 + 0.1, 0))
    sc.hand(x0 if catch else hx, hy + throw, sc.choice(("down", "left", "right")), layer=4.0)


script("Throwing something in the air and catching it")(lambda sc: toss_up(sc, True))
script("Throwing something in the air and letting it fall")(lambda sc: toss_up(sc, False))


def throw_at(sc: Scene, kind: str) -> None:
    d = sc.sign()
    x_hand = sc.cx0 - d * sc.u(14, 18)
    obj = sc.thing(x_hand, size=(2.0, 3.2), layer=3.0)
    y_hand = sc.u(22, 30)
    t0 = sc.u(0.1, 0.25)
    if kind == "against":
        wall = sc.add("rect", sc.u(2, 3.5), sc.u(10, 14), 0.0, 0.0, layer=1.5)
        wall.x[:] = sc.cx0 + d * sc.u(8, 12)
        wall.y[:] = sc.ground - wall.h
        hit_x = wall.x[0] - d * (wall.w + obj.w)
        t_hit = t0 + sc.u(0.2, 0.3)
        x = sc.key((t0, x_hand), (t_hit, hit_x), ease=False)
        y = sc.key((t0, y_hand), (t_hit, y_hand + sc.u(-3, 3)), ease=False)
        x = np.where(sc.t > t_hit, hit_x - d * (sc.t - t_hit) * sc.u(6, 14), x)
        y = np.where(sc.t > t_hit, sc.fall(t_hit, y[np.argmax(sc.t > t_hit) - 1], sc.ground - obj.h), y)
    else:
        land_x = sc.cx0 + d * sc.u(4, 10)
        t_land = t0 + sc.u(0.25, 0.35)
        tau = np.clip((sc.t - t0) / (t_land - t0), 0, 1)
        x = x_hand + (land_x - x_hand) * tau
        y0, y1 = y_hand, sc.ground - obj.h
        y = y0 + (y1 - y0) * tau - sc.u(8, 14) * 4 * tau * (1 - tau)
        slide = sc.u(2, 6)
        x = np.where(sc.t > t_land, land_x + d * slide * (1 - np.exp(-(sc.t - t_land) * 10)), x)
    obj.x, obj.y = x, y
    swing = sc.key((0, -d * sc.u(2, 4)), (t0, d * sc.u(3, 6)), (t0 + 0.15, d * sc.u(0, 2)))
    hx = x_hand + swing
    sc.hand(np.where(sc.t <= t0, x, hx), np.where(sc.t <= t0, y, y_hand),
            "left" if d > 0 else "right", layer=4.0)


script("Throwing something against something")(lambda sc: throw_at(sc, "against"))
script("Throwing something onto a surface")(lambda sc: throw_at(sc, "onto"))


# --------------------------------------------------------------------------------------------------
# covering (B), slanted surfaces (B), hitting (singleton)

def cover(sc: Scene, covering: bool) -> None:
    obj = sc.thing(sc.cx0 + sc.u(-4, 4), size=(3, 5))
    cloth = sc.add("rect", obj.w + sc.u(3, 5), obj.h + sc.u(2.5, 4), 0.0, 0.0, layer=3.0,
                   pattern=sc.choice(("stripes", "dots", "plain")))
    d = sc.sign()
    on_x, on_y = obj.x[0], sc.ground - cloth.h + 0.5
    off_x, off_y = obj.x[0] + d * sc.u(16, 22), on_y - sc.u(6, 12)
    t0 = sc.u(0.1, 0.3)
    t1 = min(1.0, t0 + sc.u(0.35, 0.5))
    a, b = ((off_x, off_y), (on_x, on_y)) if covering else ((on_x, on_y), (off_x, off_y))
    cloth.x, cloth.y = sc.key((t0, a[0]), (t1, b[0])), sc.key((t0, a[1]), (t1, b[1]))
    cloth.angle = sc.key((t0, 0.0), (t1, 0.0)) + np.where((sc.t > t0) & (sc.t < t1), d * 0.15, 0.0)
    sc.hand(cloth.x + d * cloth.w * 0.7, cloth.y - cloth.h * 0.6, sc.choice(("up", "left" if d < 0 else "right")),
            layer=4.0)


script("Covering something with something")(lambda sc: cover(sc, True))
script("Uncovering something")(lambda sc: cover(sc, False))


def slanted(sc: Scene, slides: bool) -> None:
    rises = sc.sign()
    wedge, low, high = sc.slope(sc.cx0 + sc.u(-3, 3), rises)
    obj = sc.add("rect", sc.u(2.5, 4), sc.u(1.5, 3), 0.0, 0.0, layer=2.0)
    v = high - low
    length = np.hypot(*v)
    n = np.array([v[1], -v[0]]) / length
    if n[1] > 0:
        n = -n
    ang = np.arctan2(v[1], v[0]) if v[0] > 0 else np.arctan2(-v[1], -v[0])
    s_put = sc.u(0.55, 0.8)
    t_put = sc.u(0.3, 0.45)
    s = np.full(sc.T, s_put)
    if slides:
        t_s = t_put + sc.u(0.05, 0.12)
        s = s_put - np.clip(sc.t - t_s, 0, None) ** 2 * sc.u(150, 300) / length
    on = s >= 0
    pos = low[None] + np.clip(s, 0, 1)[:, None] * v[None] + n[None] * obj.h
    beyond = -np.clip(s, None, 0) * length
    x = np.where(on, pos[:, 0], low[0] - np.sign(v[0]) * beyond)
    y = np.where(on, pos[:, 1], sc.ground - obj.h)
    # carried in from above before t_put
    start_x, start_y = x[0] + sc.u(-6, 6), y[0] - sc.u(10, 15)
    cx = sc.key((0, start_x), (t_put, x[0]))
    cy = sc.key((0, start_y), (t_put, y[0]))
    obj.x, obj.y = np.where(sc.t < t_put, cx, x), np.where(sc.t < t_put, cy, y)
    obj.angle = np.where(on | (sc.t < t_put), ang, 0.0)
    hx = np.where(sc.t < t_put, cx, x[np.argmax(sc.t >= t_put)])
    hy = np.where(sc.t < t_put, cy - obj.h, cy[-1] - obj.h - sc.key((t_put, 0), (1, sc.u(6, 12))))
    sc.hand(hx, hy, "up", layer=4.0)


script("Putting something that can't roll onto a slanted surface, so it slides down")(lambda sc: slanted(sc, True))
script("Putting something that can't roll onto a slanted surface, so it stays where it is")(
    lambda sc: slanted(sc, False))


def hit(sc: Scene) -> None:
    obj = sc.thing(sc.cx0 + sc.u(-4, 4))
    d = sc.sign()
    length = sc.u(5, 7)
    t_hit = sc.u(0.35, 0.55)
    top = obj.y[0] - obj.h
    swing = sc.key((0, -1.2), (t_hit, 0.0), (min(1.0, t_hit + 0.2), -0.9), ease=False)  # stick angle from level
    px = obj.x[0] - d * (length * 1.6)                     # the hand (pivot)
    py = top - 1.0
    stick = sc.add("rect", length, sc.u(0.6, 1.0), 0.0, 0.0, layer=3.5, pattern="plain")
    stick.angle = -d * swing if d > 0 else np.pi + d * swing
    stick.x = px + np.cos(stick.angle) * length
    stick.y = py + np.sin(stick.angle) * length
    jolt = np.where(np.abs(sc.t - t_hit) < 0.08, 1.0, 0.0)
    obj.y = obj.y + jolt * 0.6
    obj.scale = 1.0 - 0.06 * jolt
    sc.hand(px, py, "left" if d > 0 else "right", layer=3.6)


script("Hitting something with something")(hit)
