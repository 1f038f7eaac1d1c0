"""The gymnast: an articulated figure of 3D joints driven by joint angles and a whole-body orientation.

Body frame: x = the gymnast's right, y = up along the spine, z = the way she faces; the pelvis is the
origin. A pose is a vector of joint angles in degrees (`FIELDS`); `POSES` names the ones elements are
made of (tucked, piked, split leap, back attitude ...). Limbs hang down at zero: a hip or shoulder
flexion swings the limb forward (180 = overhead), abduction swings it out sideways, knee flexion folds
the shank back, elbow flexion folds the forearm forward, spine flexion bends the trunk forward
(negative: arched). Orientation: world = Ry(yaw) Rx(salto) Rz(side) Ry(twist) body, so a twist spins
the body about its own long axis inside the salto, and a positive salto turns the head the way she
faces (a forward salto). Proportions are fractions of the body height (anthropometric tables, e.g.
Winter, Biomechanics and Motor Control of Human Movement, ch. 4), drawn a little thicker than life so
that limbs stay visible at 48 px.
"""
from __future__ import annotations

import numpy as np

FIELDS = ("spine", "neck", "hip_l", "abd_l", "knee_l", "hip_r", "abd_r", "knee_r",
          "sh_l", "sha_l", "elb_l", "sh_r", "sha_r", "elb_r")
F = {name: i for i, name in enumerate(FIELDS)}

JOINTS = ("pelvis", "chest", "head", "hip_l", "knee_l", "ankle_l", "toe_l", "hip_r", "knee_r", "ankle_r", "toe_r",
          "sh_l", "elb_l", "hand_l", "sh_r", "elb_r", "hand_r", "bun")
J = {name: i for i, name in enumerate(JOINTS)}

# segment lengths and half widths, fractions of the body height
LENGTH = {"trunk": 0.29, "neck": 0.10, "thigh": 0.245, "shank": 0.25, "foot": 0.09, "upper_arm": 0.186,
          "forearm": 0.2, "hip_w": 0.055, "sh_w": 0.11, "bun": 0.065}
PELVIS_HEIGHT = 0.53 + 0.0  # hip joint above the ground, standing
ANKLE_HEIGHT = 0.04

# (from joint, to joint, radius as a fraction of height, part) drawn as capsules; part picks the colour
SEGMENTS = (
    ("pelvis", "chest", 0.062, "torso"), ("hip_l", "hip_r", 0.05, "torso"), ("sh_l", "sh_r", 0.04, "torso"),
    ("chest", "head", 0.03, "skin"),
    ("hip_l", "knee_l", 0.038, "leg"), ("knee_l", "ankle_l", 0.03, "leg"), ("ankle_l", "toe_l", 0.022, "leg"),
    ("hip_r", "knee_r", 0.038, "leg"), ("knee_r", "ankle_r", 0.03, "leg"), ("ankle_r", "toe_r", 0.022, "leg"),
    ("sh_l", "elb_l", 0.028, "arm"), ("elb_l", "hand_l", 0.024, "arm"),
    ("sh_r", "elb_r", 0.028, "arm"), ("elb_r", "hand_r", 0.024, "arm"),
)
HEAD_RADIUS = 0.068
BUN_RADIUS = 0.035


def pose(**angles: float) -> np.ndarray:
    """A pose vector (degrees) with the given fields set and every other joint at zero."""
    v = np.zeros(len(FIELDS))
    for name, value in angles.items():
        v[F[name]] = value
    return v


def both(hip=0.0, abd=0.0, knee=0.0, sh=0.0, sha=0.0, elb=0.0, **rest) -> np.ndarray:
    """A symmetric pose."""
    return pose(hip_l=hip, hip_r=hip, abd_l=abd, abd_r=abd, knee_l=knee, knee_r=knee, sh_l=sh, sh_r=sh,
                sha_l=sha, sha_r=sha, elb_l=elb, elb_r=elb, **rest)


def mirror(p: np.ndarray) -> np.ndarray:
    """The same pose with left and right exchanged."""
    q = p.copy()
    for a, b in (("hip", "hip"), ("abd", "abd"), ("knee", "knee"), ("sh", "sh"), ("sha", "sha"), ("elb", "elb")):
        q[F[f"{a}_l"]], q[F[f"{b}_r"]] = p[F[f"{b}_r"]], p[F[f"{a}_l"]]
    return q


# The element vocabulary. Leg-asymmetric poses have the left leg as the front or free leg; elements mirror
# them at random (either leg may lead).
POSES = {
    "stand": both(sh=8, sha=8),
    "arms up": both(sh=170),
    "arms side": both(sha=80),
    "crouch": both(hip=60, knee=90, sh=40, spine=20),
    "land": both(hip=50, knee=70, sh=100, sha=20, spine=15),
    "stretched": both(sh=170),
    "twisting": both(sh=25, sha=-10, elb=125),                 # arms wrapped to the chest
    "tucked": both(hip=135, knee=145, sh=60, elb=50, spine=25, neck=20),
    "piked": both(hip=135, sh=95, spine=25, neck=15),
    "straddled": both(hip=105, abd=48, sh=85, sha=30, spine=20),
    "arched": both(hip=-18, sh=175, spine=-22, neck=-15),
    "hang": both(sh=180),
    "handstand": both(sh=180, hip=-4),
    # leaps and jumps
    "split": pose(hip_l=95, hip_r=-85, sh_l=100, sha_l=10, sha_r=80),
    "side split": both(abd=88, sha=85, hip=8),
    "straddle": both(hip=95, abd=45, sh=80, sha=40, spine=15),
    "stag": pose(hip_l=90, knee_l=100, hip_r=-80, sh_l=150, sh_r=20, sha_r=60),
    "ring": pose(hip_l=45, knee_l=20, hip_r=-70, knee_r=135, spine=-32, neck=-35, sh_l=170, sh_r=170),
    "stag ring": pose(hip_l=90, knee_l=100, hip_r=-70, knee_r=135, spine=-30, neck=-30, sh_l=170, sh_r=170),
    "split ring": pose(hip_l=95, hip_r=-70, knee_r=130, spine=-30, neck=-30, sh_l=170, sh_r=150),
    "yangbo": pose(hip_l=100, hip_r=-95, spine=-35, neck=-40, sh_l=170, sh_r=170),
    "sheep": both(hip=-40, knee=145, spine=-40, neck=-40, sh=150),
    "wolf": pose(hip_l=95, hip_r=95, knee_r=150, sh_l=90, sh_r=90, spine=15),
    "tuck": both(hip=125, knee=140, sh=70, spine=10),
    "pike": both(hip=110, sh=95, spine=20),
    "sissone": pose(hip_l=45, hip_r=-135, sh_l=120, sha_r=80, spine=10),
    "butterfly": both(hip=-25, abd=40, sha=80, spine=-10),
    "cat": pose(hip_l=100, knee_l=110, sh_l=60, sh_r=60),
    "free leg up": pose(hip_l=115, sh_l=80, sha_r=80),
    "kick": pose(hip_l=100, sh_l=90, sha_r=70),
    "front support": both(sh=90, hip=5),
    "lunge": pose(hip_l=50, knee_l=50, hip_r=-25, sh_l=170, sh_r=170),
    "step": pose(hip_l=30, knee_l=20, hip_r=-25, sh_l=120, sha_r=60),
    "run a": pose(hip_l=60, knee_l=70, hip_r=-25, knee_r=40, sh_l=-30, sh_r=50, elb_l=80, elb_r=80, spine=10),
    "run b": pose(hip_l=-25, knee_l=40, hip_r=60, knee_r=70, sh_l=50, sh_r=-30, elb_l=80, elb_r=80, spine=10),
    "straddle sit": both(hip=90, abd=60, sh=40, sha=20),
    "lie": both(hip=105, sh=170),                             # kip position on the back, hip closed
    # pirouettes: support leg right, free leg left
    "turn split": pose(hip_l=170, sh_l=170, sh_r=100, sha_r=40),
    "turn tuck": pose(hip_r=100, knee_r=120, hip_l=110, knee_l=120, sh_l=80, sh_r=80, spine=25),
    "turn tuck straight": pose(hip_r=100, knee_r=120, hip_l=90, sh_l=80, sh_r=80, spine=25),
    "turn attitude": pose(hip_l=-70, knee_l=90, abd_l=20, sh_l=170, sh_r=170),
    "turn low": pose(hip_l=40, knee_l=95, abd_l=30, sh_l=170, sh_r=170),
    "turn heel forward": pose(hip_l=90, sh_l=90, sha_r=80),
    "turn thigh back": pose(hip_l=-90, knee_l=60, sh_l=170, sh_r=130),
    "turn illusion": pose(hip_r=160, hip_l=-15, sh_l=170, sh_r=170),
    # bars: circle forms (hands on the bar, overhead)
    "giant": both(sh=178, hip=-5),
    "clear hip": both(sh=55, hip=25),
    "pike sole": both(sh=150, hip=155, knee=10),
    "clear pike": both(sh=160, hip=140),
    "stalder": both(sh=160, hip=140, abd=55),
}


def _rx(a: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] about x; positive turns +y towards +z."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _ry(a: np.ndarray) -> np.ndarray:
    """About y; positive turns +z towards +x."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rz(a: np.ndarray) -> np.ndarray:
    """About z; positive turns +y towards -x."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def orientation(yaw, salto, side, twist) -> np.ndarray:
    """World-from-body rotations [T, 3, 3] from angles in radians (see the module docstring)."""
    return _ry(yaw) @ _rx(salto) @ _rz(side) @ _ry(twist)


DOWN = np.array([0.0, -1.0, 0.0])


def _limb(frame: np.ndarray, flex, abd, side: float) -> np.ndarray:
    """Frames [T, 3, 3] of a limb hanging from `frame`, flexed forward and abducted (side +1 right)."""
    return frame @ _rx(-flex) @ _rz(side * abd)


def joints(poses: np.ndarray, height: np.ndarray | float) -> np.ndarray:
    """Body-frame joint positions [T, len(JOINTS), 3] (metres) of poses [T, len(FIELDS)] in degrees."""
    p = np.radians(np.asarray(poses, np.float64))
    T = len(p)
    h = np.broadcast_to(np.asarray(height, np.float64), (T,))[:, None]
    eye = np.broadcast_to(np.eye(3), (T, 3, 3))
    out = np.zeros((T, len(JOINTS), 3))
    up = _rx(p[:, F["spine"]])                       # trunk frame
    chest = (up @ np.array([0.0, 1.0, 0.0]))[..., :] * (LENGTH["trunk"] * h)
    out[:, J["chest"]] = chest
    head_frame = up @ _rx(p[:, F["neck"]])
    out[:, J["head"]] = chest + (head_frame @ np.array([0.0, 1.0, 0.0])) * (LENGTH["neck"] * h)
    out[:, J["bun"]] = out[:, J["head"]] + (head_frame @ np.array([0.0, 0.25, -1.0])) * (LENGTH["bun"] * h)
    for side, s in (("l", -1.0), ("r", 1.0)):
        hip = np.array([s * LENGTH["hip_w"], 0.0, 0.0]) * h
        thigh = _limb(eye, p[:, F[f"hip_{side}"]], p[:, F[f"abd_{side}"]], s)
        knee = hip + (thigh @ DOWN) * (LENGTH["thigh"] * h)
        shank = thigh @ _rx(p[:, F[f"knee_{side}"]])
        ankle = knee + (shank @ DOWN) * (LENGTH["shank"] * h)
        toe = ankle + (shank @ _rx(-np.full(T, np.radians(70.0))) @ DOWN) * (LENGTH["foot"] * h)
        out[:, J[f"hip_{side}"]], out[:, J[f"knee_{side}"]] = hip, knee
        out[:, J[f"ankle_{side}"]], out[:, J[f"toe_{side}"]] = ankle, toe
        shoulder = chest + (up @ np.array([s * LENGTH["sh_w"], -0.02, 0.0])) * h
        arm = _limb(up, p[:, F[f"sh_{side}"]], p[:, F[f"sha_{side}"]], s)
        elbow = shoulder + (arm @ DOWN) * (LENGTH["upper_arm"] * h)
        fore = arm @ _rx(-p[:, F[f"elb_{side}"]])
        hand = elbow + (fore @ DOWN) * (LENGTH["forearm"] * h)
        out[:, J[f"sh_{side}"]], out[:, J[f"elb_{side}"]], out[:, J[f"hand_{side}"]] = shoulder, elbow, hand
    return out


# joints whose mean is the body's centre of mass, with rough segment-mass weights (trunk heavy)
COM_WEIGHTS = {"pelvis": 0.25, "chest": 0.25, "head": 0.08, "knee_l": 0.1, "knee_r": 0.1, "ankle_l": 0.04,
               "ankle_r": 0.04, "elb_l": 0.035, "elb_r": 0.035, "hand_l": 0.015, "hand_r": 0.015,
               "hip_l": 0.04, "hip_r": 0.04}


def centre_of_mass(body: np.ndarray) -> np.ndarray:
    """[T, 3] weighted mean of body-frame joints [T, J, 3]."""
    idx = [J[n] for n in COM_WEIGHTS]
    w = np.array(list(COM_WEIGHTS.values()))
    return np.einsum("tjk,j->tk", body[:, idx], w / w.sum())
