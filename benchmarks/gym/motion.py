"""Element parameters -> the gymnast's 3D joint trajectories.

A builder per kind of element (`BUILDERS`) writes a `Choreo`: keyframes of the pose and of the four
orientation angles over the element's time u in [0, 1], and the contacts (feet on the floor or beam,
hands on a bar or the vault table) that hold during intervals. `Choreo.solve` turns that into world
joint positions: inside a contact the body is placed so that the contact joints sit on their point,
between contacts the centre of mass flies on a parabola from take-off to landing. So the apparatus,
the rotations (salto count and direction, twists, turns), the body shape and the landing are all set
by the label's parameters, and the flight follows from where the contacts are.

World frame: X along the direction of travel, Y up, Z towards the camera's side; the floor is Y = 0.
Nuisance factors drawn here: body height, timing ("speed within the label's meaning"), which leg
leads, which way she twists, how high and far she flies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from benchmarks.gym.body import ANKLE_HEIGHT, POSES, J, centre_of_mass, joints, mirror, orientation
from benchmarks.gym.parse import Element
from benchmarks.world.scene import keyframes

BEAM = 1.25             # beam top above the floor (m)
BEAM_HALF = 2.5         # half length of the beam
TABLE = 1.25            # vault table top
MAT = 0.2               # landing mat top
HIGH, LOW, BAR_GAP = 2.5, 1.7, 1.6   # uneven bars: heights and horizontal distance
ANGLES = ("yaw", "salto", "side", "twist")


@dataclass
class Contact:
    t0: float
    t1: float
    joints: tuple[str, ...]
    point: Callable[[np.ndarray], np.ndarray] | tuple[float, float, float]

    def at(self, t: np.ndarray) -> np.ndarray:
        if callable(self.point):
            return self.point(t)
        return np.broadcast_to(np.asarray(self.point, float), (len(t), 3))


@dataclass
class Choreo:
    """An element under construction (see the module docstring)."""

    rng: np.random.Generator
    apparatus: str
    height: float = 1.6
    flip: bool = False                      # left/right of asymmetric poses exchanged
    poses: list[tuple[float, np.ndarray]] = field(default_factory=list)
    angles: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: {a: [] for a in ANGLES})
    contacts: list[Contact] = field(default_factory=list)
    apex: dict[float, float] = field(default_factory=dict)    # flight start -> apex height above the higher end
    layout: dict = field(default_factory=dict)                 # apparatus placement for the renderer

    def u(self, a: float, b: float) -> float:
        return float(self.rng.uniform(a, b))

    def p(self, name: str | np.ndarray) -> np.ndarray:
        v = POSES[name] if isinstance(name, str) else name
        return mirror(v) if self.flip else v

    def key(self, t: float, pose: str | np.ndarray | None = None, **angles: float) -> "Choreo":
        if pose is not None:
            self.poses.append((t, self.p(pose)))
        for name, value in angles.items():
            self.angles[name].append((t, value))
        return self

    def hold(self, t0: float, t1: float, where, *names: str) -> "Choreo":
        """Joints `names` (default both ankles) sit on `where` from t0 to t1."""
        names = names or ("ankle_l", "ankle_r")
        if self.flip:
            names = tuple(n[:-1] + {"l": "r", "r": "l"}[n[-1]] if n[-2:] in ("_l", "_r") else n for n in names)
        self.contacts.append(Contact(t0, t1, names, where))
        return self

    def feet(self, x: float, y: float, z: float = 0.0) -> tuple[float, float, float]:
        """Where the ankles are when the feet stand at (x, y, z)."""
        return (x, y + ANKLE_HEIGHT * self.height, z)

    def fly(self, t0: float, height: float) -> "Choreo":
        self.apex[t0] = height
        return self

    # --- solving -------------------------------------------------------------------------------------
    def _track(self, name: str, t: np.ndarray) -> np.ndarray:
        keys = sorted(self.angles[name], key=lambda k: k[0])
        return np.radians(keyframes(t, keys or [(0.0, 0.0)], ease=False))

    def body(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World joints relative to the centre of mass [T, J, 3], and the pose angles [T, F]."""
        poses = keyframes(t, sorted(self.poses, key=lambda k: k[0]))
        local = joints(poses, self.height)
        rel = local - centre_of_mass(local)[:, None]
        rot = orientation(*(self._track(a, t) for a in ANGLES))
        return np.einsum("tij,tkj->tki", rot, rel), poses

    def _com_at_contacts(self, t: np.ndarray, rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        com = np.full((len(t), 3), np.nan)
        for c in self.contacts:
            inside = (t >= c.t0) & (t <= c.t1)
            if inside.any():
                idx = [J[n] for n in c.joints]
                com[inside] = c.at(t[inside]) - rel[inside][:, idx].mean(axis=1)
        return com, ~np.isnan(com[:, 0])

    def solve(self, t: np.ndarray) -> np.ndarray:
        """World joint positions [T, J, 3] at element times t (flights between contacts are parabolas)."""
        rel, _ = self.body(t)
        com, held = self._com_at_contacts(t, rel)
        spans = sorted((c.t0, c.t1) for c in self.contacts)
        for (_, a), (b, _) in zip(spans, spans[1:]):
            if b <= a:
                continue
            ends = np.array([a, b])
            end_com, _ = self._com_at_contacts(ends, self.body(ends)[0])
            s = (t - a) / (b - a)
            inside = (s > 0) & (s < 1) & ~held
            h = self.apex.get(a, 0.3) + abs(end_com[1, 1] - end_com[0, 1]) / 2
            path = end_com[0] + (end_com[1] - end_com[0]) * s[:, None]
            path[:, 1] += 4 * h * s * (1 - s)
            com[inside] = path[inside]
        if np.isnan(com).any():
            raise ValueError("the element's contacts leave frames with no position (a gap at the start or end)")
        return com[:, None, :] + rel


def _sign(c: Choreo) -> float:
    return 1.0 if c.rng.random() < 0.5 else -1.0


# ---------------------------------------------------------------------------------------------------
# flights: saltos, twists and shapes


def flight(c: Choreo, ta: float, tb: float, el: Element, salto0: float, dsalto: float, twist0: float = 0.0,
           twist_window: tuple[float, float] = (0.1, 0.9), shape_window: tuple[float, float] = (0.18, 0.78),
           side: tuple[float, float] | None = None) -> None:
    """Keys of a flight from ta to tb: salto angle from salto0 by dsalto (linear: constant angular speed),
    the twists inside twist_window (fractions of the flight), the body shape held inside shape_window."""
    d = tb - ta
    c.key(ta, "stretched", salto=salto0, twist=twist0)
    c.key(tb, salto=salto0 + dsalto)
    twist = twist0 + _sign(c) * 360.0 * el.twists
    if el.twists:
        w0, w1 = twist_window
        c.key(ta + w0 * d, twist=twist0).key(ta + w1 * d, twist=twist).key(tb, twist=twist)
    else:
        c.key(tb, twist=twist0)
    shape = {"": "stretched", "stretched": "stretched", "arched": "arched"}.get(el.shape, el.shape)
    if shape == "stretched" and el.twists:
        shape = "twisting"
    s0, s1 = shape_window
    c.key(ta + s0 * d, shape).key(ta + s1 * d, shape)
    if side is not None:
        c.key(ta, side=side[0]).key(tb, side=side[1])


def land(c: Choreo, tb: float, where, how: str = "") -> None:
    """Landing on both feet (or stepping out) at `where`, then standing up."""
    c.hold(tb, 1.0, where)
    if how == "step":
        c.key(tb + 0.02, "step").key(1.0, "step")
    else:
        c.key(tb + 0.04, "land").key(min(1.0, tb + c.u(0.12, 0.2)), "arms up" if c.rng.random() < 0.6 else "arms side")


# ---------------------------------------------------------------------------------------------------
# builders: one per kind of element


def build_salto(c: Choreo, el: Element) -> None:
    """Floor and beam saltos (and double saltos), forward, backward or sideward, from the floor, on the
    beam or off its end (dismounts)."""
    on_beam = el.apparatus == "BB" and (el.landing in ("step", "together", "cross", "side", "one or two")
                                        and not el.travel.endswith("end"))
    dismount = el.apparatus == "BB" and not on_beam
    surf = BEAM if el.apparatus == "BB" else 0.0
    gainer = el.travel.startswith("gainer")
    twist_first = el.turn_before
    fwd = el.direction == "forward"
    # facing: forward saltos and gainers face the way they travel; backward saltos (and the arabian's
    # backward take-off) face away from it
    face = 90.0 if (fwd != bool(twist_first)) or gainer else -90.0
    if el.direction == "sideward":
        face = 90.0 if el.travel == "forward take-off" else 0.0
    roll = -1.0 if gainer else 1.0                 # rotation towards +X (or back, for a gainer)
    dsalto = roll * (1.0 if face > 0 else -1.0) * 360.0 * el.saltos
    rise = {1: c.u(0.9, 1.3), 2: c.u(1.5, 1.9)}[el.saltos] * (1.0 if not dismount else 0.8)
    if el.travel == "whip":
        rise = c.u(0.35, 0.55)
    extra = min(0.18, 0.05 * (el.twists + el.saltos))
    ta = c.u(0.24, 0.3) - extra
    tb = c.u(0.8, 0.86)
    x0 = c.u(-0.3, 0.3) + (BEAM_HALF - 0.4 if dismount and el.travel != "gainer side" else -1.0)
    dist = c.u(0.8, 1.3) if on_beam else c.u(1.2, 2.0)
    if el.travel == "whip":
        dist = c.u(2.0, 2.6)
    # take-off: a run (forward), a rebound out of a flic-flac (backward) or a lunge on one leg
    if fwd and not twist_first or el.travel == "forward take-off":
        c.hold(0.0, ta, lambda t: np.stack([x0 - 1.6 * (ta - t) / ta, np.full_like(t, surf + ANKLE_HEIGHT * c.height),
                                            np.zeros_like(t)], -1))
        c.key(0.0, "run a", yaw=face).key(ta * 0.5, "run b").key(ta * 0.85, "crouch")
    elif el.takeoff == "one leg" or gainer:
        c.hold(0.0, ta, c.feet(x0, surf))
        c.key(0.0, "stand", yaw=face).key(ta * 0.6, "lunge").key(ta * 0.9, "kick")
    else:
        c.hold(0.0, ta, c.feet(x0, surf))
        c.key(0.0, "arms up" if el.apparatus == "FX" else "stand", yaw=face).key(ta * 0.6, "crouch")
        c.key(ta * 0.95, "arms up")
    c.key(0.0, salto=0.0, side=0.0, twist=0.0).key(ta, salto=0.0, side=0.0)
    if el.direction == "sideward":
        flight(c, ta, tb, el, 0.0, 0.0, side=(0.0, -360.0 * el.saltos))
        if el.twists:
            c.key(ta, yaw=face).key(tb, yaw=face + 180.0 * el.twists)
    else:
        if twist_first:  # arabian / jump forward with a half twist: the half twist comes at take-off
            t_half = ta + 0.18 * (tb - ta)
            c.key(ta, twist=0.0).key(t_half, twist=_sign(c) * 180.0)
            flight(c, t_half, tb, el, dsalto * 0.08, dsalto * 0.92, twist0=c.angles["twist"][-1][1])
            c.key(ta, salto=0.0)
        else:
            flight(c, ta, tb, el, 0.0, dsalto)
    c.fly(ta, rise)
    z = 0.0
    x1, y1 = x0 + dist * (-0.3 if gainer and not el.travel.endswith(("end", "side")) else 1.0), surf
    if dismount:
        y1 = MAT
        if el.travel == "gainer side":
            x1, z = x0 + c.u(-0.2, 0.2), c.u(1.0, 1.4) * (1 if c.rng.random() < 0.5 else -1)
        elif el.travel != "gainer end":
            x1 = max(x1, BEAM_HALF + 0.8)
        else:
            x1 = BEAM_HALF + c.u(0.9, 1.4)
    if el.landing == "side":  # side stand: across the beam
        c.key(tb, yaw=c.angles["yaw"][-1][1] if el.direction == "sideward" else 0.0)
    land(c, tb, c.feet(x1, y1, z), "step" if el.landing == "step" else "")


def build_aerial(c: Choreo, el: Element) -> None:
    """Aerial cartwheel, free aerial round-off and aerial walkover: a salto without hands, legs split."""
    surf = BEAM if el.apparatus == "BB" else 0.0
    ta, tb = c.u(0.3, 0.38), c.u(0.66, 0.74)
    x0 = c.u(-1.3, -0.7)
    c.hold(0.0, ta, c.feet(x0, surf))
    c.key(0.0, "stand", salto=0.0, side=0.0, twist=0.0).key(ta * 0.6, "lunge").key(ta, "kick")
    legs = "split" if el.pose == "walkover" else "side split"
    if el.pose == "walkover":
        c.key(0.0, yaw=90.0).key(ta, salto=0.0).key(tb, salto=360.0)
    else:
        c.key(0.0, yaw=90.0 if el.pose == "roundoff" else 0.0).key(ta, side=0.0).key(tb, side=-360.0)
        if el.pose == "roundoff":
            c.key(ta, yaw=90.0).key((ta + tb) / 2, yaw=0.0).key(tb, yaw=-90.0)
        elif el.landing == "cross":
            c.key(ta + 0.6 * (tb - ta), yaw=0.0).key(tb, yaw=90.0)
    c.key(ta + 0.2 * (tb - ta), legs).key(ta + 0.75 * (tb - ta), legs)
    c.fly(ta, c.u(0.5, 0.7))
    c.hold(tb, 1.0, c.feet(x0 + c.u(1.2, 1.6), surf), "ankle_l")
    c.key(tb + 0.03, "step").key(1.0, "arms up")


def build_roundoff(c: Choreo, el: Element) -> None:
    """A round-off: cartwheel with a quarter turn in and out, hands on the floor or beam."""
    surf = BEAM if el.apparatus == "BB" else 0.0
    x0 = c.u(-1.2, -0.8)
    ta, th0, th1, tb = c.u(0.22, 0.28), c.u(0.32, 0.36), c.u(0.5, 0.54), c.u(0.66, 0.72)
    c.hold(0.0, ta, c.feet(x0, surf))
    c.key(0.0, "arms up", yaw=90.0, side=0.0, salto=0.0, twist=0.0).key(ta * 0.7, "lunge")
    c.hold(th0, th1, (x0 + 0.9, surf, 0.0), "hand_l", "hand_r")
    c.key(th0, "handstand", yaw=20.0, side=-150.0).key(th1, "handstand", yaw=-20.0, side=-215.0)
    c.key(ta, side=-40.0, yaw=80.0).key(tb, side=-360.0, yaw=-90.0)
    c.fly(th1, 0.25).fly(ta, 0.1)
    land(c, tb, c.feet(x0 + 1.4, surf))


def build_handspring(c: Choreo, el: Element) -> None:
    """Handspring forward: hands on the beam, flight forward onto the feet."""
    x0 = c.u(-1.2, -0.8)
    ta, th0, th1, tb = c.u(0.22, 0.28), c.u(0.34, 0.38), c.u(0.46, 0.5), c.u(0.7, 0.76)
    c.hold(0.0, ta, c.feet(x0, BEAM))
    c.key(0.0, "arms up", yaw=90.0, salto=0.0, side=0.0, twist=0.0).key(ta * 0.7, "lunge")
    c.hold(th0, th1, (x0 + 0.9, BEAM, 0.0), "hand_l", "hand_r")
    c.key(ta, salto=20.0).key(th0, "handstand", salto=150.0).key(th1, "handstand", salto=215.0)
    c.key(tb, "step", salto=360.0)
    c.fly(ta, 0.1).fly(th1, 0.4)
    land(c, tb, c.feet(x0 + 1.9, BEAM), "step")


def build_flicflac(c: Choreo, el: Element) -> None:
    """Flic-flac (back handspring) on the beam and its endings: feet, step-out, straddle sit, side handstand,
    walkover; twists before the hands or on the way down; the gainer takes off from one leg."""
    x0 = c.u(-1.0, -0.6)
    gainer = el.travel == "gainer"
    ta, th0, th1, tb = c.u(0.2, 0.24), c.u(0.36, 0.4), c.u(0.48, 0.52), c.u(0.64, 0.7)
    c.hold(0.0, ta, c.feet(x0, BEAM))
    c.key(0.0, "stand", yaw=-90.0, salto=0.0, side=0.0, twist=0.0)
    if gainer:
        c.key(ta * 0.6, "lunge").key(ta, "kick")
    else:
        c.key(ta * 0.6, "crouch").key(ta, "arms up")
    twist = _sign(c) * 360.0 * el.twists
    hands = x0 + c.u(0.7, 0.9)
    c.hold(th0, th1, (hands, BEAM, 0.0), "hand_l", "hand_r")
    c.key(ta, salto=0.0).key(th0, "arched", salto=-150.0).key(th1, "handstand")
    before = el.detail == "before hands" or el.travel == "jump backward"
    c.key(ta, twist=0.0).key(th0, twist=twist if before else 0.0)
    c.fly(ta, 0.35)
    if el.landing == "handstand":  # to side handstand, held
        c.key(th1, salto=-180.0, twist=twist)
        c.hold(th1, 1.0, (hands, BEAM, 0.0), "hand_l", "hand_r")
        c.key(1.0, "handstand", salto=-180.0, twist=twist)
        return
    c.key(th1, salto=-210.0)
    c.key(tb, salto=-360.0, twist=twist)
    c.fly(th1, 0.2)
    if el.landing == "sit":
        c.key(th1 + 0.6 * (tb - th1), "straddle sit").key(1.0, "straddle sit")
        c.hold(tb, 1.0, (hands + 0.7, BEAM + 0.05, 0.0), "pelvis")
        return
    if el.landing == "walkover":
        c.key(th1 + 0.3 * (tb - th1), "split")
        c.hold(tb, 1.0, c.feet(hands + 0.9, BEAM), "ankle_l")
        c.key(tb + 0.03, "step").key(1.0, "arms up")
        return
    if gainer or el.landing == "step":
        c.key(th1 + 0.3 * (tb - th1), "split")
    land(c, tb, c.feet(hands + 0.9, BEAM), "step" if el.landing == "step" or gainer else "")


def build_jump(c: Choreo, el: Element) -> None:
    """Leaps (run, one-leg take-off, travelling), jumps (two feet) and hops, with the leg shape held at
    the top, turns about the vertical axis, and their endings (ring, wolf, one foot, front support)."""
    surf = BEAM if el.apparatus == "BB" else 0.0
    face = 0.0 if el.side_position else 90.0
    if el.side_position and c.rng.random() < 0.5:
        face = 180.0
    leap = el.takeoff == "leap"
    ta, tb = c.u(0.3, 0.36), c.u(0.7, 0.76)
    x0 = c.u(-0.8, -0.4) - (0.6 if leap else 0.0)
    turn = _sign(c) * 360.0 * (el.turns + (0.5 * int(c.rng.integers(0, 2)) if el.detail == "or more" else 0.0))
    c.key(0.0, salto=0.0, side=0.0, twist=0.0, yaw=face).key(ta, yaw=face)
    if leap:
        c.hold(0.0, ta, lambda t: np.stack([x0 + 1.4 * (t - ta) / ta, np.full_like(t, surf + ANKLE_HEIGHT * c.height),
                                            np.zeros_like(t)], -1), "ankle_r")
        c.key(0.0, "run a").key(ta * 0.5, "run b").key(ta * 0.9, "step")
    elif el.takeoff == "hop":
        c.hold(0.0, ta, c.feet(x0, surf), "ankle_r")
        c.key(0.0, "stand").key(ta * 0.6, "turn low").key(ta * 0.95, "free leg up")
    else:
        c.hold(0.0, ta, c.feet(x0, surf))
        c.key(0.0, "stand").key(ta * 0.6, "crouch").key(ta * 0.95, "arms up")
    d = tb - ta
    peak = {"switch": "split", "johnson": "side split", "cat": "cat", "stride wolf": "wolf", "stag split": "stag",
            "free leg up": "free leg up"}.get(el.pose, el.pose)
    if el.pose in ("switch", "johnson", "stride wolf"):   # the front leg kicks forward, then the legs change
        c.key(ta + 0.15 * d, mirror(POSES["kick"]))
    if el.pose == "cat":                                 # knees up one after the other
        c.key(ta + 0.3 * d, "cat").key(ta + 0.65 * d, mirror(POSES["cat"]))
    else:
        c.key(ta + 0.35 * d, peak).key(ta + 0.62 * d, peak)
    if el.landing == "ring":                             # the rear leg bends up into the ring at the end
        c.key(ta + 0.82 * d, "ring")
    if el.landing == "wolf":
        c.key(ta + 0.82 * d, "wolf")
    if turn:
        c.key(ta, yaw=face).key(tb, yaw=face + turn)
    if el.pose == "butterfly":                           # torso horizontal, the body turning flat
        c.key(ta, salto=0.0).key(ta + 0.3 * d, salto=75.0).key(ta + 0.7 * d, salto=75.0).key(tb, salto=10.0)
        c.key(ta, yaw=face).key(tb, yaw=face + _sign(c) * 180.0)
    c.fly(ta, c.u(0.45, 0.65) if el.pose != "butterfly" else c.u(0.3, 0.45))
    x1 = x0 + (c.u(1.2, 1.8) if leap else c.u(0.1, 0.4))
    if el.landing == "front support":                    # down into a push-up position
        c.key(tb, "front support", salto=80.0).key(1.0, "front support", salto=80.0)
        c.hold(tb, 1.0, (x1 + 0.7, surf, 0.0), "hand_l", "hand_r")
        return
    one_foot = leap or el.takeoff == "hop" or el.landing == "one foot"
    c.hold(tb, 1.0, c.feet(x1, surf), *(("ankle_l",) if one_foot else ()))
    c.key(tb + 0.03, "step" if one_foot else "land").key(1.0, "arms side" if one_foot else "arms up")


def build_turn(c: Choreo, el: Element) -> None:
    """Pirouettes on one leg with the free leg held as the label says; the illusion turn tips forward
    into a standing split while it turns."""
    surf = BEAM if el.apparatus == "BB" else 0.0
    face = 90.0 if c.rng.random() < 0.7 else 0.0
    t0, t1 = c.u(0.12, 0.18), c.u(0.82, 0.9)
    x0 = c.u(-0.3, 0.3)
    name = {"split": "turn split", "tuck": "turn tuck straight" if el.detail == "straight" else "turn tuck",
            "attitude": "turn attitude", "low": "turn low", "heel forward": "turn heel forward",
            "thigh back": "turn thigh back", "illusion": "turn illusion"}[el.pose]
    turn = _sign(c) * 360.0 * (el.turns + (0.5 * int(c.rng.integers(0, 2)) if el.detail == "or more" else 0.0))
    c.hold(0.0, 1.0, c.feet(x0, surf), "ankle_r")
    c.key(0.0, "stand", yaw=face, salto=0.0, side=0.0, twist=0.0).key(t0, name, yaw=face).key(t1, name, yaw=face + turn)
    if el.pose == "illusion":
        c.key(t0, salto=0.0).key(t0 + 0.25 * (t1 - t0), salto=150.0).key(t0 + 0.75 * (t1 - t0), salto=150.0)
        c.key(t1, salto=0.0)
    c.key(min(1.0, t1 + 0.08), "stand").key(1.0, "arms side")


def build_spin(c: Choreo, el: Element) -> None:
    """Spinning on the back in kip position (hips closed, legs over the body)."""
    t0, t1 = c.u(0.2, 0.26), c.u(0.82, 0.88)
    c.hold(0.0, 1.0, (c.u(-0.3, 0.3), 0.12, 0.0), "pelvis")
    c.key(0.0, "lie", yaw=90.0, salto=-60.0, side=0.0, twist=0.0).key(t0, "lie", salto=-100.0)
    c.key(t0, yaw=90.0).key(t1, yaw=90.0 + _sign(c) * 360.0 * el.turns)


def _swing(c: Choreo, t0: float, t1: float, bar: tuple[float, float], salto: tuple[float, float], form: str,
           face: float) -> None:
    """Hands on `bar` from t0 to t1 while the body circles it from salto[0] to salto[1] (degrees)."""
    c.hold(t0, t1, (bar[0], bar[1], 0.0), "hand_l", "hand_r")
    c.key(t0, salto=salto[0], yaw=face).key(t1, salto=salto[1])
    c.key(t0 + 0.2 * (t1 - t0), form).key(t0 + 0.8 * (t1 - t0), form)


def build_circle(c: Choreo, el: Element) -> None:
    """A circle around the high bar from handstand to handstand in the form the label names (giant,
    clear hip, pike sole, clear pike, stalder), forward or backward, with the turn in handstand at the
    end (with a hop, or earlier on one arm)."""
    c.layout["bars"] = True
    face = 90.0
    sense = 1.0 if el.direction == "forward" else -1.0
    t_end = c.u(0.7, 0.76) if el.twists else c.u(0.84, 0.92)
    c.key(0.0, "handstand", side=0.0, twist=0.0)
    form = el.pose
    _swing(c, 0.0, t_end, (0.0, HIGH), (180.0, 180.0 + sense * 360.0), form, face)
    c.key(t_end, "handstand")
    twist = _sign(c) * 360.0 * el.twists
    if not el.twists:
        c.hold(t_end, 1.0, (0.0, HIGH, 0.0), "hand_l", "hand_r")
        c.key(1.0, "handstand", salto=180.0 + sense * 360.0)
        return
    if el.detail == "one arm":                          # the turn before handstand, on one arm
        c.contacts[-1].t1 = t_end - 0.12
        c.hold(t_end - 0.12, 1.0, (0.0, HIGH, 0.0), "hand_r")
        c.key(t_end - 0.12, twist=0.0).key(t_end + 0.1, twist=twist)
        c.key(1.0, "handstand", salto=180.0 + sense * 360.0)
        return
    t_turn = min(0.97, t_end + c.u(0.2, 0.24))
    c.key(t_end, twist=0.0).key(t_turn, twist=twist).key(1.0, "handstand", salto=180.0 + sense * 360.0)
    if el.detail == "hop":                              # both hands leave the bar during the turn
        c.hold(t_turn, 1.0, (0.0, HIGH, 0.0), "hand_l", "hand_r").fly(t_end, 0.4)
    else:
        c.hold(t_end, 1.0, (0.0, HIGH, 0.0), "hand_l", "hand_r")


def build_release(c: Choreo, el: Element) -> None:
    """Releases that catch the high bar again: counter movements over the bar (straddled, piked,
    stretched, with a half turn) and saltos forward or backward to hang."""
    c.layout["bars"] = True
    face = 90.0
    t_rel, t_catch = c.u(0.44, 0.5), c.u(0.74, 0.8)
    c.key(0.0, "handstand", side=0.0, twist=0.0)
    if el.bars == "over":          # backward swing down, release in front, fly back over the bar
        pre = "pike sole" if el.entry == "pike sole" else "giant"
        _swing(c, 0.0, t_rel, (0.0, HIGH), (180.0, -40.0), pre, face)
        c.key(t_rel, "hang").key(t_catch, salto=30.0)
        c.key(t_rel + 0.25 * (t_catch - t_rel), el.shape).key(t_rel + 0.7 * (t_catch - t_rel), el.shape)
        c.fly(t_rel, c.u(1.2, 1.5))
    else:                          # a salto forward or backward to hang
        sense = 1.0 if el.direction == "forward" else -1.0
        _swing(c, 0.0, t_rel, (0.0, HIGH), (180.0, 180.0 + sense * 200.0), "giant", face)
        c.key(t_rel, "hang").key(t_catch, salto=180.0 + sense * 560.0)
        c.key(t_rel + 0.25 * (t_catch - t_rel), el.shape).key(t_rel + 0.7 * (t_catch - t_rel), el.shape)
        c.fly(t_rel, c.u(0.9, 1.2))
    if el.twists:
        w = (0.05, 0.4) if el.detail == "flight backward" else (0.5, 0.9)
        d = t_catch - t_rel
        twist = _sign(c) * 360.0 * el.twists
        c.key(t_rel + w[0] * d, twist=0.0).key(t_rel + w[1] * d, twist=twist)
    c.key(t_catch, "hang")
    last = c.angles["salto"][-1][1]
    c.hold(t_catch, 1.0, (0.0, HIGH, 0.0), "hand_l", "hand_r")
    c.key(1.0, "hang", salto=last + 40.0 * (1 if last >= 0 else -1))


def build_transition(c: Choreo, el: Element) -> None:
    """Flight from one bar to the other: from the high bar down to the low bar, or up from low to high."""
    c.layout["bars"] = True
    t_rel, t_catch = c.u(0.42, 0.48), c.u(0.66, 0.72)
    high, low = (0.0, HIGH), (-BAR_GAP, LOW)
    start, end = (high, low) if el.bars == "high-low" else (low, high)
    c.key(0.0, "handstand", side=0.0, twist=0.0)
    if el.bars == "high-low":      # swing down backward, release, fly back to the low bar
        _swing(c, 0.0, t_rel, start, (180.0, 20.0), "giant", 90.0)
        c.key(t_catch, "hang", salto=-20.0)
        c.fly(t_rel, 0.3)
    else:                          # swing under the low bar, release, fly up to the high bar
        _swing(c, 0.0, t_rel, start, (180.0, -70.0), "clear hip", -90.0)
        c.key(t_rel + 0.5 * (t_catch - t_rel), "arched").key(t_catch, "hang", salto=-10.0)
        c.fly(t_rel, 0.4)
    c.hold(t_catch, 1.0, (end[0], end[1], 0.0), "hand_l", "hand_r")
    c.key(1.0, "hang", salto=c.angles["salto"][-1][1] + 30.0)


def build_bar_dismount(c: Choreo, el: Element) -> None:
    """Dismounts from the high bar: a swing, the release, one or two saltos in a shape with turns (in the
    first or the last salto), the landing on the mat."""
    c.layout["bars"] = True
    sense = 1.0 if el.direction == "forward" else -1.0
    if el.detail.startswith("first"):
        sense = 1.0 if el.detail == "first forward" else -1.0
    t_rel, tb = c.u(0.3, 0.36), c.u(0.82, 0.88)
    face = 90.0
    if el.entry == "underswing":   # from standing on the bar in pike, swing under it
        c.key(0.0, "pike sole", side=0.0, twist=0.0)
        _swing(c, 0.0, t_rel, (0.0, HIGH), (150.0, 150.0 + 250.0), "pike sole", face)
        start = 150.0 + 250.0
    else:
        c.key(0.0, "handstand", side=0.0, twist=0.0)
        _swing(c, 0.0, t_rel, (0.0, HIGH), (180.0, 180.0 + sense * 230.0), "giant", face)
        start = 180.0 + sense * 230.0
    rest = 360.0 * (el.saltos + 1) - (start - 180.0) * sense    # to land upright after the saltos
    end = start + sense * rest
    c.key(t_rel, "stretched", salto=start).key(tb, salto=end)
    d = tb - t_rel
    shape = el.shape if el.shape != "stretched" or not el.twists else "twisting"
    c.key(t_rel + 0.15 * d, shape).key(t_rel + 0.8 * d, shape)
    twist = _sign(c) * 360.0 * el.twists
    if el.twists:
        w = (0.05, 0.45) if el.detail.startswith("first") else (0.5, 0.92) if el.saltos == 2 else (0.1, 0.9)
        c.key(t_rel, twist=0.0).key(t_rel + w[0] * d, twist=0.0).key(t_rel + w[1] * d, twist=twist)
    c.fly(t_rel, c.u(1.0, 1.4))
    land(c, tb, c.feet(sense * c.u(2.0, 2.6), MAT))


def build_vault(c: Choreo, el: Element) -> None:
    """Vaults: an entry onto the table (round-off + flic-flac with a turn on, handspring forward, or
    Tsukahara's turn on), the push off the table, the post-flight (saltos, shape, turns, a turn before
    the salto) and the landing on the mat. Every rotation rolls towards the landing mat; the body's own
    forward or backward follows from which way she faces, which the turns change."""
    table_x = 0.0
    # a turn on needs a longer first flight to be seen (a full turn in one frame would not be)
    t_board, t_pre = c.u(0.1, 0.13), c.u(0.16, 0.18)
    t_hand0 = t_pre + c.u(0.08, 0.1) + 0.12 * el.turn_on
    t_hand1, tb = t_hand0 + c.u(0.04, 0.06), c.u(0.86, 0.9)
    board = (-1.9, 0.25)
    c.key(0.0, salto=0.0, side=0.0, twist=0.0)
    if el.entry == "roundoff":
        # the round-off on the runway (hands down, quarter turns in and out), landing back to the table
        c.hold(0.0, 0.04, (board[0] - 1.3, 0.0, 0.0), "hand_l", "hand_r")
        c.key(0.0, "handstand", yaw=0.0, side=-170.0).key(t_board, "land", yaw=-90.0, side=-360.0)
        c.fly(0.04, 0.15)
        c.hold(t_board, t_pre, c.feet(board[0], board[1]))
        c.key(t_pre, "arms up", yaw=-90.0, salto=0.0)
        dsalto = -1.0            # facing away from the table: backward rotation rolls towards it
    else:
        c.hold(0.0, t_board, lambda t: np.stack([board[0] - 1.2 * (t_board - t) / t_board,
                                                 np.full_like(t, board[1] + ANKLE_HEIGHT * c.height), np.zeros_like(t)], -1))
        c.key(0.0, "run a", yaw=90.0).key(t_board * 0.6, "run b").key(t_board, "crouch")
        c.hold(t_board, t_pre, c.feet(board[0], board[1]))
        c.key(t_pre, "arms up", yaw=90.0, salto=0.0)
        dsalto = 1.0
    # pre-flight onto the table: half a rotation to handstand, with the turn on
    c.key(t_hand0, "handstand", salto=dsalto * 150.0).key(t_hand1, "handstand", salto=dsalto * 210.0)
    on = el.turn_on
    if el.entry == "tsukahara":
        on = 0.5
    twist_on = _sign(c) * 360.0 * on
    c.key(t_pre, twist=0.0).key(t_hand0, twist=twist_on)
    if el.entry == "tsukahara":   # the turn on is a round-off-like quarter turn: sideways onto the table
        c.key(t_pre, side=0.0).key(t_hand0 - 0.03, side=-40.0).key(t_hand1, side=0.0)
    c.fly(t_pre, 0.35)
    c.hold(t_hand0, t_hand1, (table_x, TABLE, 0.0), "hand_l", "hand_r")
    # post-flight: the rest of the rotation to the feet plus 360 per salto
    start = dsalto * 210.0
    end = dsalto * (360.0 + 360.0 * el.saltos)
    c.key(tb, salto=end)
    d = tb - t_hand1
    t_before = 0.0
    tw = twist_on
    if el.turn_before:
        t_before = 0.25
        tw = twist_on + _sign(c) * 360.0 * el.turn_before
        c.key(t_hand1, twist=twist_on).key(t_hand1 + 0.25 * d, twist=tw)
    if el.saltos:
        shape = el.shape if el.shape != "stretched" or not el.twists else "twisting"
        c.key(t_hand1 + (0.15 + t_before) * d, shape).key(t_hand1 + 0.78 * d, shape)
    else:
        c.key(t_hand1 + 0.3 * d, "arched" if el.shape == "stretched" else "twisting" if el.twists else "stretched")
    twist = tw + _sign(c) * 360.0 * el.twists
    if el.twists:
        c.key(t_hand1 + (0.1 + t_before) * d, twist=tw).key(t_hand1 + 0.88 * d, twist=twist)
    c.key(t_hand1, salto=start)
    c.fly(t_hand1, c.u(0.8, 1.1) if el.saltos < 2 else c.u(1.3, 1.5))
    land(c, tb, c.feet(table_x + c.u(2.0, 2.8), MAT))


BUILDERS: dict[str, Callable[[Choreo, Element], None]] = {
    "salto": build_salto, "aerial": build_aerial, "roundoff": build_roundoff, "handspring": build_handspring,
    "flicflac": build_flicflac, "jump": build_jump, "turn": build_turn, "spin": build_spin,
    "circle": build_circle, "release": build_release, "transition": build_transition, "vault": build_vault,
}


def choreograph(el: Element, rng: np.random.Generator) -> Choreo:
    """The element's Choreo with this clip's nuisance draws (body height, leading leg, timing)."""
    c = Choreo(rng, el.apparatus, height=float(rng.uniform(1.45, 1.7)), flip=bool(rng.random() < 0.5))
    builder = build_bar_dismount if (el.apparatus == "UB" and el.kind == "salto") else BUILDERS[el.kind]
    builder(c, el)
    return c
