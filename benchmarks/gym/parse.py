"""FineGym label text -> the parameters of the element it names (what the renderer animates).

FineGym's element names are compositional: "(VT) round-off, flic-flac with 0.5 turn on, stretched salto
forward with 1.5 turn off" is an apparatus, an entry onto the table with a turn, a body shape, a salto
direction and a number of twists in the post-flight. `parse` reads those parts with the gymnastics
vocabulary of the Code of Points as FineGym spells it ("turn" on vault and bars, "twist" on floor and
beam, both: rotations about the body's long axis), and fills an `Element`. Whatever a label does not
say keeps its default (one salto, landing on both feet, ...). Every rendered label must parse to its
own parameters: two labels with equal parameters would render the same motion.

Parenthesised text is read too: FineGym uses it both for definitions ("split jump (leg separation 180
degree parallel to the floor)") and for the preceding swing on bars ("(swing forward) double salto ...").
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

APPARATUS = ("VT", "FX", "BB", "UB")
KINDS = ("vault", "salto", "aerial", "jump", "turn", "spin", "circle", "release", "transition", "flicflac",
         "handspring", "roundoff")


@dataclass(frozen=True)
class Element:
    apparatus: str                 # VT, FX, BB, UB
    kind: str                      # one of KINDS
    direction: str = ""            # salto/circle rotation: forward, backward, sideward
    saltos: int = 0                # somersaults in the (post-)flight: 0, 1, 2
    shape: str = ""                # flight/circle body shape: tucked, piked, stretched, straddled, arched
    twists: float = 0.0            # turns about the long axis in the flight (or in handstand on bars)
    entry: str = ""                # VT: roundoff, handspring, tsukahara; UB: the swing before (forward, backward, underswing)
    turn_on: float = 0.0           # VT: turn in the first flight (onto the table)
    turn_before: float = 0.0       # VT: turn off the table before the salto; BB/FX: twist at take-off (arabian, jump backward)
    pose: str = ""                 # jump/leap leg shape, turn free-leg position, circle form (giant, stalder ...)
    turns: float = 0.0             # jumps and pirouettes: turns about the vertical axis
    takeoff: str = ""              # jumps: leap (one leg, travelling), jump (two feet), hop (one leg to the same)
    landing: str = ""              # how it ends: step (feet successively), cross, side, sit, handstand, front support, hang ...
    travel: str = ""               # gainer (backward rotation travelling forward), whip, end (dismount off the beam end) ...
    bars: str = ""                 # UB: from-to bars of a flight ("high-low") or "over" (counter over the bar)
    side_position: bool = False    # BB: jump with the body across the beam (side position)
    detail: str = ""               # a last distinction the parts above do not carry (see `parse`)

    def params(self) -> dict:
        return asdict(self)


def _num(text: str | None, default: float = 0.0) -> float:
    return float(text) if text else default


def _twists(text: str, word: str = r"(?:twist|turn)") -> float:
    m = re.search(rf"(\d+(?:\.\d+)?) {word}", text)
    return _num(m.group(1)) if m else 0.0


def _shape(text: str) -> str:
    for shape in ("tucked", "piked", "stretched", "straddled"):
        if shape in text:
            return shape
    return ""


def _direction(text: str) -> str:
    for d in ("forward", "backward", "sideward"):
        if f"salto {d}" in text or f"{d} salto" in text:
            return d
    return ""


def _vault(text: str) -> Element:
    if text.startswith("tsukahara"):
        shape = _shape(text)
        saltos = 0 if "without salto" in text else 1
        return Element("VT", "vault", "backward", saltos, shape, _twists(text), entry="tsukahara")
    entry = "roundoff" if text.startswith("round-off") else "handspring"
    on = re.search(r"with (\d+(?:\.\d+)?) turn on", text)
    off = text.split(" on, ", 1)[1] if " on, " in text else ""
    before = re.match(r"(\d+(?:\.\d+)?) turn to ", off)
    if before:
        off = off[before.end():]
    saltos = 2 if "double salto" in off else 1 if "salto" in off else 0
    return Element("VT", "vault", _direction(off) if saltos else "", saltos, _shape(off), _twists(off),
                   entry=entry, turn_on=_num(on.group(1) if on else None), turn_before=_num(before.group(1) if before else None))


JUMP_POSES = (  # most specific first: "stag ring" before "stag" and "ring"
    ("yang-bo", "yangbo"), ("stag-ring", "stag ring"), ("stag ring", "stag ring"), ("split ring", "split ring"),
    ("sheep", "sheep"), ("ring jump", "ring"), ("ring leap", "split ring"), ("stride leap", "stride wolf"),
    ("johnson", "johnson"), ("switch leap", "switch"), ("cat leap", "cat"), ("sissone", "sissone"),
    ("butterfly", "butterfly"), ("straddle pike", "straddle"), ("stag split", "stag split"), ("stag", "stag"),
    ("wolf", "wolf"), ("tuck hop", "tuck"), ("pike jump", "pike"), ("stretched", "stretched"),
    ("split leap", "split"), ("split jump", "split"), ("jump with legs separated", "straddle"),
    ("hop with", "free leg up"),
)

TURN_POSES = (
    ("illusion", "illusion"), ("180 split", "split"), ("tuck stand", "tuck"), ("back attitude", "attitude"),
    ("heel of free leg forward", "heel forward"), ("thigh of free leg at horizontal", "thigh back"),
    ("free leg optional below horizontal", "low"),
)


def _jump(app: str, text: str) -> Element:
    pose = next(p for key, p in JUMP_POSES if key in text)
    main = text.split("(")[0]
    takeoff = ("leap" if "leap" in main or pose == "johnson" else "hop" if text.startswith("hop") else "jump")
    turns = _twists(main, "turn")
    if pose == "johnson":  # a switch leap with a quarter turn to side split, plus any additional turn
        turns += 0.25
    landing = "front support" if "front lying support" in text else "one foot" if "land on one foot" in text else ""
    if " to ring position" in text or "or more to ring position" in text:
        landing = "ring"
    if "wolf position" in text:
        landing = "wolf"
    detail = ""
    if "or more" in text:
        detail = "or more"
    if "from cross position" in text:
        detail = "from cross"
    return Element(app, "jump", pose=pose, turns=turns, takeoff=takeoff, landing=landing,
                   side_position="side position" in text, detail=detail)


def _turn(app: str, text: str) -> Element:
    pose = next(p for key, p in TURN_POSES if key in text)
    m = re.match(r"(\d+(?:\.\d+)?) (?:illusion )?turn", text)
    turns = _num(m.group(1)) if m else 1.0
    detail = "straight" if "free leg straight" in text else "or more" if "or more" in text else ""
    return Element(app, "turn", pose=pose, turns=turns, detail=detail)


def _circle(text: str) -> Element:
    for key, form in (("giant", "giant"), ("clear hip", "clear hip"), ("pike sole", "pike sole"),
                      ("clear pike", "clear pike"), ("stalder", "stalder")):
        if key in text:
            break
    direction = "forward" if " forward" in text else "backward"
    detail = "hop" if "hop" in text else "one arm" if "on one arm" in text else ""
    landing = "handstand" if "to handstand" in text else ""
    return Element("UB", "circle", direction, pose=form, twists=_twists(text, "turn"), landing=landing, detail=detail)


def _bars(text: str) -> Element:
    """Everything on bars but the circles: releases, transition flights and dismounts."""
    swing = re.match(r"\((swing forward or hip circle backward|swing backward or front support|swing forward|"
                     r"swing backward|under-swing or clear under-swing|pike sole circle backward)\) ", text)
    entry = ""
    if swing:
        entry = {"swing forward or hip circle backward": "forward", "swing backward or front support": "backward",
                 "under-swing or clear under-swing": "underswing", "pike sole circle backward": "pike sole"}.get(
            swing.group(1), swing.group(1).split()[-1])
        text = text[swing.end():]
    if text.startswith("transition flight"):
        bars = "high-low" if "from high bar to low bar" in text else "low-high"
        return Element("UB", "transition", bars=bars)
    if "over high bar" in text:
        shape = "straddled" if "straddle" in text else "piked" if "piked" in text else "stretched"
        detail = "flight backward" if "flight backward" in text else ""
        return Element("UB", "release", "backward", shape=shape, twists=_twists(text, "turn"), entry=entry,
                       bars="over", detail=detail)
    if "to hang on high bar" in text:
        return Element("UB", "release", _direction(text), 1, _shape(text), _twists(text, "turn"), entry=entry,
                       landing="hang")
    # dismounts: one or two saltos, possibly "salto ... with 0.5 turn into salto ..."
    if " into " in text:
        first, second = text.split(" into ")
        first_dir = _direction(first) or ("backward" if entry == "forward" else "forward")
        return Element("UB", "salto", _direction(second), 2, _shape(second), 0.5, entry=entry,
                       detail=f"first {first_dir}")
    saltos = 2 if "double salto" in text else 1
    return Element("UB", "salto", _direction(text), saltos, _shape(text), _twists(text, "turn"), entry=entry)


def _acro(app: str, text: str) -> Element:
    """Floor and beam saltos, aerials, flic-flacs, handsprings, round-offs."""
    if "aerial" in text:
        landing = "side" if "side position" in text else "cross" if "cross position" in text else ""
        if "round-off" in text:
            return Element(app, "aerial", "sideward", pose="roundoff", landing=landing)
        if "walkover" in text:
            return Element(app, "aerial", "forward", pose="walkover", landing=landing)
        return Element(app, "aerial", "sideward", pose="cartwheel", landing=landing)
    if "flic-flac" in text:
        twist = re.search(r"(?:with|minimum) (\d+(?:\.\d+)?) twist", text)
        landing = ("sit" if "straddle sit" in text else "handstand" if "side handstand" in text else
                   "walkover" if "walkover forward" in text else "step" if "step-out" in text else
                   "feet" if "both feet" in text else "")
        travel = "gainer" if text.startswith("gainer") else "jump backward" if text.startswith("jump backward") else ""
        detail = "before hands" if "before hand support" in text else ""
        return Element(app, "flicflac", "backward", twists=_num(twist.group(1) if twist else None), landing=landing,
                       travel=travel, detail=detail)
    if text.startswith("round-off"):
        return Element(app, "roundoff", "sideward")
    if text.startswith("handspring"):
        return Element(app, "handspring", "forward")
    if text.startswith("1 spin"):
        return Element(app, "spin", pose="kip", turns=1.0)
    direction = _direction(text)
    saltos = 2 if "double salto" in text else 1
    shape = _shape(text) or ("stretched" if "whip" in text else "")
    twists = _twists(text, "twist")
    turn_before = 0.0
    travel = "gainer" if "gainer" in text else "whip" if "whip" in text else ""
    if travel == "gainer":  # a backward salto travelling forward
        direction = "backward"
    if "arabian" in text:  # take-off backward with a half twist, then the salto(s) forward
        turn_before, direction, twists = 0.5, "forward", 0.0
    if text.startswith("jump forward with 0.5 twist"):
        turn_before, twists = 0.5, 0.0
    if text.startswith("take-off forward"):
        travel = "forward take-off"
    landing = ""
    if "step out" in text or "successively" in text:
        landing = "step"
    elif "legs together" in text and app == "BB":
        landing = "together"
    elif "feet land together" in text:
        landing = "together"
    elif "cross stand" in text:
        landing = "cross"
    elif "side stand" in text:
        landing = "side"
    elif "stand on one or two feet" in text:
        landing = "one or two"
    if app == "BB" and "at end of" in text:
        travel = "gainer end"
    if "to side of beam" in text:
        travel = "gainer side"
    if "turn" in text and direction == "sideward":
        twists = _twists(text, "turn")
    takeoff = "one leg" if re.search(r"take[- ]off from one leg", text) else ""
    return Element(app, "salto", direction, saltos, shape, twists, turn_before=turn_before, takeoff=takeoff,
                   landing=landing, travel=travel)


def parse(label: str) -> Element:
    """The element a FineGym label names (see the module docstring); ValueError if it is not one."""
    m = re.match(r"\((VT|FX|BB|UB)\) (.+)$", label)
    if not m:
        raise ValueError(f"not a FineGym label (no apparatus tag): {label!r}")
    app, text = m.group(1), m.group(2).strip()
    if app == "VT":
        return _vault(text)
    if app == "UB":
        return _circle(text) if re.match(r"[\w ]*circle|stalder", text) else _bars(text)
    acro = "salto" in text or "flic-flac" in text
    if not acro and (re.search(r"\b(leap|jump|hop)\b", text.split("(")[0]) or
                     re.match(r"johnson|yang-bo|sissone|butterfly", text)):
        return _jump(app, text)
    if re.match(r"(?:\d+(?:\.\d+)? )?(?:illusion )?turn|\d+ illusion turn", text) or "illusion" in text:
        return _turn(app, text)
    return _acro(app, text)
