"""Is the staged product of a plausible size, and does it stand on the floor? Single-view metrology
with a camera prior.

A blind study of adstage's outputs (issue 13) named products "at an absurd scale": copy-paste
staging gives the product the size of the object it replaces, so a pouf replacing an armchair is
staged at armchair size, a furniture bracket at chair size, a sofa on a wall shelf. The product's
*kind* (a category hint, or a catalog's product type such as "chest of 3 drawers") says how tall
it can be and what it stands on; the scene says how tall a placement is, up to the camera.

For an object standing on the floor, seen by a level pinhole camera at eye height ``e`` whose
horizon is image row ``y_h``, an object whose base is at row ``y_b`` and top at row ``y_t`` is
``H = e · (y_b − y_t) / (y_b − y_h)`` tall (Hoiem, Efros & Hebert, "Putting Objects in
Perspective", CVPR 2006; rows grow downwards). The horizon and eye height of a catalog
photo are unknown, so :class:`Camera` bounds them (a prior for photos taken level, as interior
photos are: horizon between 30 % and 65 % of the height from the top, eye height 70–170 cm),
and :func:`implied_height` returns the interval of heights the placement can mean. A placement is
refused only when that whole interval lies outside the kind's heights by more than
``tolerance``: the check catches gross errors, not subtle ones.

Two refusals, for kinds that stand on the floor (``support == "floor"``):

- ``support``: the product's base is above the highest plausible horizon — above eye level, so
  on a wall or on top of tall furniture, not on the floor;
- ``scale``: the heights the placement can mean are all far above (a giant) or far below (a
  toy) the kind's heights.

And one from the scene's catalog category (:func:`check_setting`): ``setting``, an indoor product
in an outdoor scene (a bed in a garden, a TV bench in a park), or a kind in a room it is not
found in (:data:`NOT_IN_ROOMS`: a bed in a kitchen, a sofa in a laundry).

Kinds that stand on other furniture (``top``), hang on a wall (``wall``) or are not recognised are
not checked (their base height is unknown); a kind that may stand anywhere (``any``: a box or
basket) is checked, at its own known height, only where it stands on the floor
(:func:`standing`); parts and accessories (a type whose head ends in one
of :data:`PART_NOUNS`: "table legs", "cabinet door", "chair cushion") are never staged into a
room slot or free space: ``stage`` makes close-ups of them (:mod:`adstage.stage.closeup`) or,
with ``closeup=False``, refuses them.

The heights are broad assumptions from typical furniture dimensions (a chair 45–110 cm, a coffee
table 28–55 cm, a wardrobe 140–240 cm), not measurements; they are in :data:`KINDS`.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from adstage.errors import InputError

SUPPORTS = ("floor", "top", "wall", "part", "any")
SETTINGS = ("indoor", "outdoor", "any")
FLOOR, TOP, WALL, PART, ANY = SUPPORTS


@dataclass(frozen=True)
class Kind:
    """A kind of product: its ``name``, the heights it comes in (cm), what it stands on (one of
    :data:`SUPPORTS`) and where (``setting``, one of :data:`SETTINGS`). ``against_wall``: it
    stands with its back to a wall (a bookcase, a wardrobe, a TV bench, a bed's headboard), not
    out in the room (a chair, a table), so nothing can stand behind it."""

    name: str
    low_cm: float
    high_cm: float
    support: str
    setting: str = "any"
    against_wall: bool = False

    def __post_init__(self) -> None:
        if self.support not in SUPPORTS or self.setting not in SETTINGS:
            raise InputError(
                f"kind {self.name!r}: support {self.support!r} must be one of {SUPPORTS} and "
                f"setting {self.setting!r} one of {SETTINGS}"
            )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _k(name: str, low: float, high: float, support: str = FLOOR, wall: bool = False) -> Kind:
    return Kind(name, low, high, support, against_wall=wall)


PART_NOUNS = frozenset(
    [
        "knob",
        "handle",
        "hinge",
        "leg",
        "foot",
        "feet",
        "castor",
        "caster",
        "bracket",
        "post",
        "hook",
        "rail",
        "door",
        "panel",
        "plinth",
        "insert",
        "headboard",
        "slat",
        "top",
        "front",
        "runner",
        "fitting",
        "brace",
        "template",
        "underframe",
        "canopy",
        "tent",
        "cushion",
        "pad",
        "mat",
        "rug",
        "curtain",
        "curtains",
        "blind",
        "protector",
        "lock",
        "armrest",
        "headrest",
    ]
)
"""A product type whose head phrase ends in one of these nouns (or their plural) is a part or an
accessory of furniture, not something that stands in a room on its own: "table legs", "cabinet
door", "bench top", "bed canopy", "chair cushion", "floor protector"; so is a cover for one ("cover
for seat cushion"). (A "sofa cover" or a "cover for recliner" is not: its catalog photo shows the
covered sofa or recliner.)"""

_SHELVING = _k("shelving", 30, 240, wall=True)

KINDS: tuple[tuple[str, Kind], ...] = (
    # parts whose head does not end in a part noun
    (
        r"\bdrawer (front|frame|runner)s?\b|\bunderbed\b|\bslatted bed ?base\b",
        _k("part", 0, 0, PART),
    ),
    (r"\b(extra|glass) shelf\b|\bheight extension\b|\bextension unit\b", _k("part", 0, 0, PART)),
    (r"\bdrill template\b|\bcross brace\b|\bfittings?\b", _k("part", 0, 0, PART)),
    (r"\bseat cover\b", _k("part", 0, 0, PART)),  # a chair's pad, photographed alone
    (r"\bmattress(es)?\b", _k("part", 0, 0, PART)),  # a bed's, photographed alone: a foam block
    # hung on a wall or from the ceiling: a "wall cabinet" or a "wall-mounted desk" does not stand
    (r"\bwall\b|\bmirror cabinet\b", _k("wall unit", 0, 0, WALL)),
    (r"\bpendant\b|\bceiling\b", _k("ceiling lamp", 0, 0, WALL)),
    # other things that do not stand on the floor by themselves
    (r"\bbox(es)?\b|\bbaskets?\b|\bcase\b|\bnet\b", _k("box or basket", 0, 0, ANY)),
    (r"\bfloor lamp\b|\bfloor uplighter\b", _k("floor lamp", 110, 200)),
    (
        r"\blamps?\b|\blampshade\b|\bvase\b|\bplant\b|\bpot\b|\bclock\b|\bcandle|"
        r"\blaptop (stand|support)\b",
        _k("decor", 0, 0, TOP),
    ),
    # furniture, most specific first
    (r"\b(bunk|loft) bed\b", _k("bunk or loft bed", 140, 210, wall=True)),
    (r"\bsofa ?bed\b|\bsofas?\b|\bcouch\b|\bloveseat\b|\bchaise longue\b", _k("sofa", 60, 110)),
    (r"\bday ?bed\b", _k("day bed", 50, 110)),
    (r"\bcot\b|\bcrib\b", _k("cot", 70, 105, wall=True)),
    (r"\bbed\b", _k("bed", 25, 140, wall=True)),
    (r"\barmchair\b|\brecliner\b", _k("armchair", 60, 115)),
    (r"\bhigh ?chair\b", _k("high chair", 70, 115)),
    (r"\bbar ?stool\b", _k("bar stool", 60, 115)),
    (r"\bstep ?stool\b", _k("step stool", 20, 60)),
    (r"\bpouff?e?\b|\bfoot ?stool\b|\bfoot ?rest\b|\bottoman\b", _k("pouf", 25, 55)),
    (r"\bstool\b", _k("stool", 25, 80)),
    (r"\bchairs?\b", _k("chair", 45, 110)),
    (r"\btv ?(bench|unit|stand)\b", _k("TV bench", 30, 75, wall=True)),
    (r"\bwork ?bench\b", _k("work bench", 70, 110)),
    (r"\bbench\b", _k("bench", 35, 95)),
    (r"\bwardrobe\b|\bclothes rail\b", _k("wardrobe", 140, 240, wall=True)),
    (
        r"\bchest of \d* ?drawers\b|\bdrawer unit\b|\bdresser\b",
        _k("chest of drawers", 40, 150, wall=True),
    ),
    (r"\bsideboard\b|\bside unit\b|\bbuffet\b", _k("sideboard", 55, 120, wall=True)),
    (r"\bcoffee table\b", _k("coffee table", 28, 55)),
    (r"\bbedside tables?\b|\bnight ?stand\b", _k("bedside table", 30, 80)),
    (r"\b(side|nest of|storage) tables?\b", _k("side table", 30, 80)),
    (r"\bdressing table\b|\bdesk\b|\blaptop table\b", _k("desk", 65, 160, wall=True)),
    (r"\btables?\b", _k("table", 55, 110)),
    (
        r"\bbook ?(case|shelf)\b|\bshelving unit\b|\bshel(f|ving) unit\b|\bshelves\b|"
        r"\bladder shelf\b|\bsections?\b|\bstorage\b",
        _SHELVING,
    ),
    (r"\bcabinet\b|\bcupboard\b|\bbottle rack\b", _k("cabinet", 30, 230, wall=True)),
    (r"\btrolley\b", _k("trolley", 55, 110)),
    (r"\bmirror\b|\bpicture\b|\bframe\b|\bshelf\b", _k("wall item or frame", 0, 0, WALL)),
)
"""Patterns (on the lower-cased kind text, first match wins) and the kind each names, after the
part test of :data:`PART_NOUNS`. A product's head comes first in catalog types ("cabinet with 2
drawers", "frame with baskets"), so :func:`kind_of` reads the text before "with" first, then the
whole text."""

_TAIL = re.compile(r"\s(with|w|and|for|on)\s|\+")

_STORAGE_FRAME = re.compile(
    r"\bframes?(?: with| w)? ?(?:mesh|wire)? ?(?:baskets?|shel(?:f|ves)|clothes ?rails?|drawers?)"
    r"|\b\d? ?sections? ?shel"
)
"""A frame that holds baskets, shelves, rails or drawers is a storage frame standing on the floor
(a shelving unit), though "frame" alone reads as a picture or mirror frame. Also matches the dev
data's types whose "/" was lost ("Frame/wire baskets" → "framewire baskets", "3
sections/shelves" → "3 sectionsshelves")."""


_FURNITURE_CATEGORY = re.compile(
    r"\bbookcases?\b|\bshelving\b|\bcabinets?\b|\bcupboards?\b|\bmedia furniture\b|"
    r"\bchildren'?s furniture\b|\bwardrobes?\b|\bdrawers?\b|\bstorage\b"
)
"""Catalog categories whose products are furniture: a bare "Frame" in one of them is the frame of
a storage system (the dev catalog's 24 products typed "Frame" are all in "Bookcases & shelving
units", "Cabinets & cupboards", "Children's furniture" or "TV & media furniture"), not a picture
frame."""


def _is_part(head: str) -> bool:
    """Whether the head phrase ends in a part noun ("table legs", "cabinet door")."""
    words = re.sub(r"\b(in ?)?outdoors?\b|\bindoor\b", " ", head).split()  # "cushion outdoor"
    if not words:
        return False
    if words[-2:] in (["clothes", "rail"], ["clothes", "rails"]):  # it stands on its own
        return False
    last = words[-1]
    return last in PART_NOUNS or (last.endswith("s") and last[:-1] in PART_NOUNS)


_BOTH = re.compile(r"\bin ?outdoor\b|\bindoor ?(and|or)? ?outdoor\b")
_OUTDOOR = re.compile(r"\boutdoors?\b|\bgarden\b|\bpatio\b|\bbalcony\b|\bterrace\b|\bpark\b")
_INDOOR = re.compile(
    r"\bindoor\b|\bbed ?room\b|\bliving ?room\b|\bdining\b|\bkitchen\b|\bbath ?room\b|"
    r"\b(home )?office\b|\bhallway\b|\blaundry\b|\bchildren\b|\bnursery\b|\bstudy\b"
)


def _words(text: str) -> str:
    words = re.sub(r"[^a-z0-9' ]+", " ", str(text).lower().replace("&", " and ")).strip()
    return re.sub(r"\s+", " ", words)


def standing(kind: Kind | None) -> Kind | None:
    """``kind`` as a floor-standing kind when it may stand anywhere (:data:`ANY`: a storage box, a
    basket) and its height is known (``high_cm`` > 0, the product's own), for the places where
    such a product stands on the floor — free space, and the place of an object whose base is at
    least the screen's ``wall_max_base`` down the photo — so its size is checked like
    furniture's (a 10-cm storage box once replaced a garden dining set at the table's size,
    issue 13). Any other kind as it is."""
    if kind is not None and kind.support == ANY and kind.high_cm > 0:
        return replace(kind, support=FLOOR)
    return kind


def kind_of(text: str | None) -> Kind | None:
    """The :class:`Kind` a category hint or catalog product type names, or ``None``. Furniture
    that stands is ``indoor`` unless the text says outdoor ("chair outdoor": ``outdoor``;
    "cabinet in/outdoor": ``any``). The type may follow its catalog category after ``>``
    ("Bookcases & shelving units > Frame"); the category is not read for the kind itself, only
    to tell a storage frame from a picture frame (:data:`_FURNITURE_CATEGORY`) and for the words
    outdoor and children's (:func:`_placed`)."""
    if text is None:
        return None
    *path, text = str(text).split(">")  # "IKEA > Bookcases & shelving units > Frame"
    category = _words(" ".join(path))
    # "combination/glass doors" means "with glass doors" (but "in/outdoor" is one word)
    text = re.sub(r"in\s*/\s*outdoor", "inoutdoor", text, flags=re.IGNORECASE)
    # a catalog that drops the "/" writes "combinationglass doors" (not "combinations")
    text = re.sub(r"(combination)(?!s\b)(?=[a-z])", r"\1/", text, flags=re.IGNORECASE)
    words = _words(text)
    if not words:
        return None
    with_words = _words(text.replace("/", " with "))
    head = _TAIL.split(with_words, maxsplit=1)[0].strip()
    placed = f"{category} {words}".strip()  # the category may say outdoor or children's
    if _STORAGE_FRAME.search(words):  # before the parts: "frame/wire baskets/clothes rails"
        return _placed(_SHELVING, placed)
    if _is_part(head):
        return _ACCESSORY
    # "cover for seat cushion": a cushion's cover; "cover for chair/armrests" a chair's
    covered = re.match(r"covers? for (.+)", with_words)
    if covered and _is_part(_TAIL.split(covered.group(1), maxsplit=1)[0]):
        return _ACCESSORY
    if re.fullmatch(r"frames?", head) and _FURNITURE_CATEGORY.search(category):
        return _placed(_SHELVING, placed)
    for phrase in (head, words):
        for pattern, kind in KINDS:
            if re.search(pattern, phrase):
                return _placed(kind, placed)
    if head and _is_part(head.split()[0]):  # "leg adjustable", "foot cone shaped": no other noun
        return _ACCESSORY
    return None


CHILD_SCALE = 0.6
"""A children's chair, armchair, sofa, stool or step stool, bench, table, side table or desk
(:data:`_CHILD_SIZED`) is this share of the adult kind's heights (a children's chair is 50–60 cm
tall, a children's table 45–50 cm, against 80 and 75 cm). Set R (issue 13) staged a children's
bench read as an adult bench (35–95 cm), "too large"."""
_CHILD = re.compile(r"\bchild(ren)?'?s?\b|\bkids?'?\b")
_CHILD_SIZED = frozenset(
    [
        "chair",
        "stool",
        "step stool",
        "armchair",
        "bench",
        "table",
        "side table",
        "bedside table",
        "desk",
        "sofa",
    ]
)
"""The kinds that come in a children's size (a children's wardrobe or cot is its own kind or the
adult size)."""


def _placed(kind: Kind, words: str) -> Kind:
    """``kind`` with the setting its text says (floor-standing kinds only), at children's size
    (:data:`CHILD_SCALE`) when the text says it is a children's one."""
    if kind.support != FLOOR:
        return kind
    # a children's desk chair adjusts up to an adult's seat height: not resized
    if kind.name in _CHILD_SIZED and _CHILD.search(words) and "desk chair" not in words:
        kind = replace(
            kind,
            name=f"children's {kind.name}",
            low_cm=kind.low_cm * CHILD_SCALE,
            high_cm=kind.high_cm * CHILD_SCALE,
        )
    if _BOTH.search(words):
        return replace(kind, setting=ANY)
    return replace(kind, setting="outdoor" if _OUTDOOR.search(words) else "indoor")


_ACCESSORY = _k("part or accessory", 0, 0, PART)


def scene_setting(category: str | None) -> str | None:
    """``"indoor"`` or ``"outdoor"`` when a scene's catalog category says so ("Bedroom",
    "Outdoor", "COCO > outdoor > bench"), else ``None`` (unknown: "room", "COCO > furniture >
    chair")."""
    if not category:
        return None
    words = _words(category)
    if _OUTDOOR.search(words):
        return "outdoor"
    if _INDOOR.search(words):
        return "indoor"
    return None


_WET_ROOMS = r"\bkitchen\b|\blaundry\b|\bbath ?room\b"
NOT_IN_ROOMS: dict[str, re.Pattern[str]] = {
    name: re.compile(rooms)
    for names, rooms in (
        (("bed", "bunk or loft bed", "cot", "day bed"), _WET_ROOMS + r"|\bdining\b|\bhallway\b"),
        (("sofa", "armchair", "coffee table", "TV bench", "wardrobe"), _WET_ROOMS),
        (("bedside table",), _WET_ROOMS + r"|\bdining\b"),
    )
    for name in names
}
"""Kinds (by name) and the rooms, as words of a scene's catalog category, they are not staged
in. Deliberately short: only pairs a shopper would find absurd (a bed in a kitchen, a dining
room or a hallway; a sofa, a wardrobe or a TV bench in a kitchen, a laundry or a bathroom; a
bedside table in a kitchen, a dining room, a laundry or a bathroom: set T's judges saw "a wooden
nightstand pasted into the kitchen", issue 13); a
bed in a living room or a home office and a sofa in a dining room are IKEA staples and stay
allowed."""


def check_setting(kind: Kind | None, category: str | None) -> str:
    """Why a product of ``kind`` does not belong in a scene of catalog ``category``, or ``""``:
    indoor furniture (a bed, a TV bench) is not staged in a garden or a park, and a kind of
    :data:`NOT_IN_ROOMS` not in those rooms. Outdoor furniture may stand indoors (a balcony set in
    a conservatory), so that way round is not refused."""
    if kind is None or not category:
        return ""
    if kind.setting == "indoor" and scene_setting(category) == "outdoor":
        return f"an indoor {kind.name} does not belong in an outdoor scene (category {category!r})"
    rooms = NOT_IN_ROOMS.get(kind.name.removeprefix("children's "))
    if rooms is not None and kind.setting != "outdoor" and rooms.search(_words(category)):
        return f"a {kind.name} does not belong in this room (category {category!r})"
    return ""


@dataclass(frozen=True)
class Camera:
    """The prior on a catalog photo's camera: the horizon's row as a share of the height from the
    top, and the eye height in cm; ``tolerance``: how far outside its kind's heights a placement
    must be, by factor, to be refused."""

    horizon: tuple[float, float] = (0.30, 0.65)
    eye_cm: tuple[float, float] = (70.0, 170.0)
    tolerance: float = 1.25

    def __post_init__(self) -> None:
        lo, hi = self.horizon
        if not 0.0 <= lo <= hi <= 1.0:
            raise InputError(f"camera horizon: expected 0 <= low <= high <= 1, got {self.horizon}")
        e0, e1 = self.eye_cm
        if not 0.0 < e0 <= e1:
            raise InputError(f"camera eye_cm: expected 0 < low <= high, got {self.eye_cm}")
        if not self.tolerance >= 1.0:
            raise InputError(f"camera tolerance: expected at least 1, got {self.tolerance}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def implied_height(top: float, base: float, camera: Camera) -> tuple[float, float]:
    """The heights (cm, low and high) an object standing on the floor from row ``base`` up to row
    ``top`` (shares of the image height from the top) can have under ``camera``'s prior;
    ``(inf, inf)`` when its base is above every horizon the prior allows (it cannot stand on the
    floor), ``high`` is ``inf`` when the base may be at or above the horizon."""
    if not 0.0 <= top <= base:
        raise InputError(f"implied_height: expected 0 <= top <= base, got top {top}, base {base}")
    (h0, h1), (e0, e1) = camera.horizon, camera.eye_cm
    size = base - top
    if base <= h0:
        return math.inf, math.inf
    low = e0 * size / (base - h0)
    high = e1 * size / (base - h1) if base > h1 else math.inf
    return low, high


def typical(camera: Camera) -> tuple[float, float]:
    """The point estimate inside ``camera``'s prior: the middle of its horizon range (a share of
    the height from the top) and the geometric middle of its eye heights (cm; 109 cm for the
    default 70–170 cm, where two dev rooms measured by hand from furniture of known size gave
    110 and 111 cm, issue 13)."""
    (h0, h1), (e0, e1) = camera.horizon, camera.eye_cm
    return (h0 + h1) / 2.0, math.sqrt(e0 * e1)


def size_range(
    kind: Kind | None, base: float, camera: Camera, tolerance: float
) -> tuple[float, float] | None:
    """The heights, as shares of the image height, an object of ``kind`` standing on the floor at
    row ``base`` (a share from the top) can have at ``camera``'s :func:`typical` horizon and eye
    height: the kind's heights (``low_cm``–``high_cm``, one height when the product's is given),
    widened by ``tolerance`` each way (the typical camera is a guess). ``None`` when the kind is
    unknown or does not stand on the floor, or the base is not below the typical horizon (the
    size is then unknown, not small)."""
    if kind is None or kind.support != FLOOR or not kind.high_cm > 0:
        return None
    if not tolerance >= 1.0:
        raise InputError(f"size_range: tolerance must be at least 1, got {tolerance}")
    if not 0.0 <= base <= 1.0:
        raise InputError(f"size_range: base must be a share of the height in [0, 1], got {base}")
    per_cm = typical_per_cm(base, camera)
    if per_cm is None:
        return None
    return kind.low_cm / tolerance * per_cm, kind.high_cm * tolerance * per_cm


def typical_per_cm(base: float, camera: Camera) -> float | None:
    """The share of the image height one cm of an object standing on the floor at row ``base`` (a
    share from the top) spans at ``camera``'s :func:`typical` horizon and eye height; ``None``
    when the base is not below that horizon."""
    horizon, eye = typical(camera)
    return (base - horizon) / eye if base > horizon else None


def check_box(
    kind: Kind | None, box: tuple[float, float, float, float], height: float, camera: Camera | None
) -> ScaleVerdict:
    """:func:`check` of a placement's box ``(x0, y0, x1, y1)`` in an image ``height`` pixels
    tall (rows clipped to the image)."""
    base = min(1.0, max(0.0, box[3] / height))
    top = min(base, max(0.0, box[1] / height))
    return check(kind, top, base, camera)


@dataclass(frozen=True)
class ScaleVerdict:
    """What :func:`check` found: ``reason`` is ``None``, ``"support"`` or ``"scale"``; ``why``
    a sentence; ``measures`` the implied heights (cm)."""

    reason: str | None
    why: str
    measures: dict[str, float]


def check(kind: Kind | None, top: float, base: float, camera: Camera | None = None) -> ScaleVerdict:
    """Whether a placement from row ``base`` up to row ``top`` (shares of the scene's height) is
    a plausible size and support for a product of ``kind`` (see the module docstring)."""
    cam = camera or Camera()
    if kind is None or kind.support != FLOOR:
        return ScaleVerdict(None, "", {})
    low, high = implied_height(top, base, cam)
    measures = {"implied_low_cm": low, "implied_high_cm": high}
    if math.isinf(low):
        return ScaleVerdict(
            "support",
            f"a {kind.name} stands on the floor, but its base would be {base:.0%} of the scene's "
            f"height from the top, above eye level (a level camera's horizon is at least "
            f"{cam.horizon[0]:.0%} down)",
            measures,
        )
    if low > kind.high_cm * cam.tolerance:
        return ScaleVerdict(
            "scale",
            f"a {kind.name} is at most {kind.high_cm:.0f} cm tall, but here it would be at least "
            f"{low:.0f} cm",
            measures,
        )
    if high < kind.low_cm / cam.tolerance:
        return ScaleVerdict(
            "scale",
            f"a {kind.name} is at least {kind.low_cm:.0f} cm tall, but here it would be at most "
            f"{high:.0f} cm",
            measures,
        )
    return ScaleVerdict(None, "", measures)
