"""What kind of split each target is (for the breakdown table), by what tells its subcategories apart.

direction: where the motion goes; spatial relation: where the object ends up relative to another;
outcome: what happens after the action (falls / doesn't, spins, collapses); manner: how the action or
motion is done; count: how many objects (the rendered world has no counting group: "Piling something up
and Stacking number of something" and "Putting multiple things" are left out, see world/labels.py).
A group whose labels mix kinds gets the kind of most of its labels.
"""
from __future__ import annotations

KINDS = ("direction", "spatial relation", "outcome", "manner", "count")

KIND = {
    # subset A (model A's split targets)
    "Dropping something with spatial relation": "spatial relation",
    "Pretending to put something with spatial relation": "spatial relation",
    "Showing something with spatial relation": "spatial relation",
    "Pushing something": "outcome",  # 5 of 9 labels are outcomes (spins, falls off, slightly moves ...)
    "Lifting something up completely": "outcome",
    "Tilting something with something on it": "outcome",
    "Something falling": "manner",  # like a feather or like a rock
    "Letting something roll": "direction",  # along, down, up a slope
    "Moving something and something": "direction",  # away from / closer to / past each other
    "Spinning something": "outcome",
    "Throwing something in the air": "outcome",
    "Something colliding with something": "outcome",
    "Poking a stack of something": "outcome",
    # subset B (model B's split targets)
    "Moving the camera and Turning the camera": "direction",
    "Moving something": "direction",
    "Pulling something": "direction",
    "Putting something with spatial relation": "spatial relation",
    "Holding something with spatial relation": "spatial relation",
    "Spilling something with spatial relation": "spatial relation",
    "Poking something": "outcome",
    "Moving something across a surface": "outcome",
    "Lifting up one end of something": "outcome",
    "Covering something with something and Uncovering something": "manner",
    "Putting something that can't roll onto a slanted surface": "outcome",
    "Throwing something toward something": "spatial relation",  # against something / onto a surface
    "Tipping something over and Tipping something with something in it over, so something in it falls out":
        "outcome",
}
