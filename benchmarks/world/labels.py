"""Which SSv2-Split groups the rendered world contains, and the world as a `Domain` (`WORLD`).

Groups are the authors' (data/ssv2_split_group_scheme.json, verbatim). We render every fine label of
the chosen groups, preferring groups whose modifiers recur across subsets A and B (spatial relations,
directions, outcomes). Model A sees every chosen subset-A group collapsed to its group name (the
split targets) and the subset-B groups and singletons fine; model B is the mirror image.
"""
from __future__ import annotations

from pathlib import Path

from benchmarks.world.domain import Domain
from benchmarks.world.render import FRAMES, SIZE
from catsplit.runtime.bundle import Preprocess

DATA = Path(__file__).with_name("data")
HERE = Path(__file__).parent
# How a real mp4 of the world becomes the backbone's input: 8 of the 16 frames (TSN centres), short
# side kept at the rendered 56 (so resizing is the identity), centre crop 48.
PREPROCESS = Preprocess(num_frames=8, crop=48, resize=SIZE, layout="NCTHW", sampling="uniform")

GROUPS_A = (
    "Dropping something with spatial relation",
    "Pretending to put something with spatial relation",
    "Showing something with spatial relation",
    "Pushing something",
    "Lifting something up completely",
    "Tilting something with something on it",
    "Something falling",
    "Letting something roll",
    "Moving something and something",
    "Spinning something",
    "Throwing something in the air",
    "Something colliding with something",
    "Poking a stack of something",
)
GROUPS_B = (
    "Moving the camera and Turning the camera",
    "Moving something",
    "Pulling something",
    "Putting something with spatial relation",
    "Holding something with spatial relation",
    "Spilling something with spatial relation",
    "Poking something",
    "Moving something across a surface",
    "Lifting up one end of something",
    "Covering something with something and Uncovering something",
    "Putting something that can't roll onto a slanted surface",
    "Throwing something toward something",
    "Tipping something over and Tipping something with something in it over, so something in it falls out",
)
SINGLETONS = (
    "Holding something",
    "Hitting something with something",
    "Rolling something on a flat surface",
    "Pretending to poke something",
    "Lifting something with something on it",
)

# Why the other multi-label groups are not rendered (the brief asks for the list).
LEFT_OUT = {
    "Twisting something, Twisting (wringing) something wet until water comes out and Pretending or trying "
    "and failing to twist something": "wringing water and twisting need deformable, wet objects",
    "Bending something": "deformation and breaking cannot be drawn honestly with rigid shapes",
    "Tearing something": "tearing needs a deformable, splitting object",
    "Pulling two ends of something": "stretching and separating need deformable objects",
    "Folding something and Unfolding something": "folding needs deformable sheets",
    "Pretending to squeeze something and Squeezing something": "squeezing needs deformation",
    "Poking a hole": "holes in soft substances need deformation",
    "Attaching something to something and Trying but failing to attach something to something because "
    "it doesn't stick": "sticking is not visible without material cues",
    "Plugging something into something and Plugging something into something but pulling it right out as "
    "you remove your hand": "needs sockets and plugs at a scale 56 px cannot show",
    "Burying something in something and Digging something out of something": "needs granular material",
    "Pouring something": "overlaps Spilling (rendered) with finer liquid-level cues than 56 px can carry",
    "Pretending to spread air onto something and Spreading something onto something":
        "spreading is a texture change too small to see",
    "Pretending to sprinkle air onto something and Sprinkling something onto something":
        "too close to Spilling at this resolution",
    "Pretending or failing to wipe something off of something and Wiping something off of something":
        "needs a visible stain",
    "Closing something and Opening something": "needs articulated lids or doors",
    "Pretending to close something without actually closing it and Pretending to open something without "
    "actually opening it": "needs articulated lids or doors",
    "Pretending to scoop something up with something and Scooping something up with something":
        "needs granular material and a scoop",
    "Pretending to turn something upside down and Turning something upside down":
        "orientation of random shapes is ambiguous",
    "Pretending to take something out of something and Taking something out of something":
        "too close to Pulling something out of something (rendered)",
    "Pretending to take something from somewhere and Taking something from somewhere":
        "too close to Picking up / Lifting (rendered)",
    "Pretending to throw something and Throwing something": "too close to the rendered throwing groups",
    "Picking something up and Pretending to pick something up":
        "indistinguishable from Lifting something up completely (rendered) in this world",
    "Piling something up and Stacking number of something": "object counting at 56 px; left for later",
    "Putting multiple things": "object counting at 56 px; left for later",
    "Putting something on the table": "upright vs on its side needs 3D shape cues",
    "Putting something on a surface or onto something":
        "overlaps Putting something with spatial relation (rendered) label for label",
    "Lifting a surface with something on it": "identical in 2D to Tilting something with something on it (rendered)",
    "Showing something's properties": "photos, emptiness and insides are not drawable",
}


WORLD = Domain(
    name="ssv2", title="SSv2-Split-Synth", scheme_file=DATA / "ssv2_split_group_scheme.json",
    groups_a=GROUPS_A, groups_b=GROUPS_B, singletons=SINGLETONS, clips="benchmarks.world.clips",
    sources=tuple(HERE / n for n in ("render.py", "scene.py", "scripts.py", "clips.py")),
    preprocess=PREPROCESS, frames=FRAMES, size=SIZE, bundle_prefix="ssv2_split")


def scheme() -> dict:
    """The authors' full group scheme (group_scheme, A, B)."""
    return WORLD.scheme()


def ssv2_labels() -> list[str]:
    return (DATA / "ssv2_labels.txt").read_text(encoding="utf-8").splitlines()


rendered_groups = WORLD.rendered_groups
fine_labels = WORLD.fine_labels
subset_groups = WORLD.subset_groups
label_space = WORLD.label_space
class_of = WORLD.class_of
