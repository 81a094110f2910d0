"""Email, phone, name, yes/no and option matching from ASR and SMS text."""

from __future__ import annotations

import pytest

from sera.agent.context import ServiceInfo, length_names
from sera.agent.language import extract_email, extract_name, extract_phone, match_option, says_phrase, yes_no

SERVICES: dict[str, list[str]] = {
    "Tune-up": ["tune up", "tuneup", "basic service", "bike service"],
    "Flat tire repair": ["flat", "flat tire", "puncture"],
    "Brake service": ["brake adjustment"],
    "Bike fitting": ["fitting"],
    "E-bike rental": ["ebike rental", "rent an e bike"],
}
STAFF: dict[str, list[str]] = {"Dana": [], "Luis": []}
LEVELS: dict[str, list[str]] = {"beginner": [], "intermediate": ["some experience"], "advanced": []}


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("my email is Priya.Shah@Example.com.", "priya.shah@example.com"),
        ("priya dot shah at example dot com", "priya.shah@example.com"),
        ("leo underscore martin at gmail dot com", "leo_martin@gmail.com"),
        ("it's j o r d a n at gmail dot com", "jordan@gmail.com"),
        ("jordan one two at yahoo dot com", "jordan12@yahoo.com"),
        ("nina at g mail dot com", "nina@gmail.com"),
        ("sam at gmail.com", "sam@gmail.com"),
        ("bob dash lee at example dot co dot uk", "bob-lee@example.co.uk"),
        ("um ava at uh example dot org thanks", "ava@example.org"),
    ],
)
def test_extract_email(text: str, email: str) -> None:
    assert extract_email(text) == email


@pytest.mark.parametrize(
    "text",
    ["", "i am at the shop", "meet me at noon", "a..b@example.com", "x@y", "priya at example dot"],
)
def test_extract_email_none(text: str) -> None:
    assert extract_email(text) is None


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("+1 312 555 0142", "+13125550142"),
        ("312-555-0142", "+13125550142"),
        ("call me at (312) 555-0142 thanks", "+13125550142"),
        ("three one two five five five zero one four two", "+13125550142"),
        ("plus one three one two five five five oh one four two", "+13125550142"),
        ("my number is three one two five five five oh one forty two", "+13125550142"),
    ],
)
def test_extract_phone(text: str, phone: str) -> None:
    assert extract_phone(text) == phone


def test_extract_phone_other_region() -> None:
    assert extract_phone("020 7946 0958", region="GB") == "+442079460958"
    assert extract_phone("+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("", "US"),
        ("order 1042", "US"),
        ("555 1234", "US"),
        ("123 456 7890", "US"),
        ("312 555 0142", "ZZ"),
        ("312 555 0142", ""),
    ],
)
def test_extract_phone_rejects_invalid(text: str, region: str) -> None:
    assert extract_phone(text, region=region) is None


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("my name is jordan miles", "Jordan Miles"),
        ("this is Ken", "Ken"),
        ("it's Ava Brooks", "Ava Brooks"),
        ("name's Omar", "Omar"),
        ("hi this is dana from the shop", "Dana"),
        ("I'm Ken", "Ken"),
        ("i'm ken and i need a tune up", "Ken"),
        ("my name is sean o'brien", "Sean O'Brien"),
        ("my name is mary-jane mcdonald", "Mary-Jane McDonald"),
        ("my name is will smith", "Will Smith"),
        ("call me Will", "Will"),
        ("I've a trim on Friday at 1 under Luis Ortega", "Luis Ortega"),
        ("Now then, Graham Sutcliffe here, ringing on the wife's mobile", "Graham Sutcliffe"),
        ("Hi, Greg Lindqvist speaking", "Greg Lindqvist"),
        ("I need to cancel the brake service I've got on the third. It's under Bernard Okafor", "Bernard Okafor"),
        ("it is under the name of Jane Doe", "Jane Doe"),
        ("you had me down as Mary, it's Mere, M-E-R-E. Anyway, can I book", "Mere"),  # spelled out: no name
    ],
)
def test_extract_name_after_cue(text: str, name: str) -> None:
    assert extract_name(text) == name


@pytest.mark.parametrize(
    "text",
    [
        "",
        "jordan miles",
        "i'm calling about my order",
        "i'm good",
        "this is great",
        "it's broken",
        "call me back tomorrow",
        "my name is 1042",
        "I'm 24 weeks along and my back is killing me",  # a number is no name, nor what follows it
        "I'm twenty weeks and my hips are done",  # nor a number said in words
    ],
)
def test_extract_name_without_cue_or_with_non_names(text: str) -> None:
    assert extract_name(text) is None


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("jordan miles", "Jordan Miles"),
        ("Alex Kim", "Alex Kim"),
        ("uh it's nina patel", "Nina Patel"),
        ("yeah it's priya thanks", "Priya"),
        ("will smith", "Will Smith"),
        ("sam lee 0412 555 123", "Sam Lee"),  # and the number to call back on
        ("Fiachra Ó Dálaigh", "Fiachra Ó Dálaigh"),  # the particles inside a surname
        ("Juan de la Cruz", "Juan De La Cruz"),
        ("Sorcha Roche ta", "Sorcha Roche"),  # "ta" is thanks
        ("Ty Burrell", "Ty Burrell"),
        ("Kekoa Ah Sing", "Kekoa Ah Sing"),  # a filler's letters, capitalised inside a name
    ],
)
def test_extract_name_bare_reply_when_asked(text: str, name: str) -> None:
    assert extract_name(text, expect_name=True) == name


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "no",
        "1042",
        "priya@example.com",
        "good thanks",
        "i want to book a tune up for saturday please",
        "sixty-two",
    ],
)
def test_extract_name_rejects_non_names_when_asked(text: str) -> None:
    assert extract_name(text, expect_name=True) is None


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "yeah",
        "yep",
        "sure",
        "correct",
        "that's right",
        "sounds good",
        "please do",
        "go ahead",
        "yes please",
        "yes cancel it",
        "that works",
        "ok",
        "uh huh",
        "mm hmm",
        "no problem",
        "\U0001f44d",
        "y",
        "aye, lovely",
        "sweet as",  # New Zealand and Australia
        "yep chur",
        "nah yeah",
        "that's grand",  # Ireland
        "go on so",
        "that'll do",
        "that'll work",
        "suits me",
        "yeah no worries",  # "yeah no" alone is a no; "no worries" is a yes
        "sound",  # Ireland
        "sound out, thanks",
        "dead on",  # Northern Ireland
    ],
)
def test_yes(text: str) -> None:
    assert yes_no(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "no",
        "nope",
        "don't",
        "not really",
        "no thanks",
        "wrong",
        "absolutely not",
        "i don't think so",
        "nah that's wrong",
        "yeah nah",  # "I hear you, but no"
    ],
)
def test_no(text: str) -> None:
    assert yes_no(text) is False


@pytest.mark.parametrize(
    "text",
    [
        "",
        "i'm not sure",
        "maybe",
        "make sure the brakes work",
        "what are your hours",
        "right now",
        "how loud is the sound",
    ],
)
def test_yes_no_unclear(text: str) -> None:
    assert yes_no(text) is None


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("hi um I need to get my bike tuned up", "Tune-up"),
        ("tune-up", "Tune-up"),
        ("tuneup", "Tune-up"),
        ("tuneups please", "Tune-up"),
        ("I got a flat", "Flat tire repair"),
        ("my brakes", "Brake service"),
        ("just a fit", "Bike fitting"),
        ("could I book a bike fit with Dana", "Bike fitting"),
        ("bike service", "Tune-up"),
        ("rent an ebike", "E-bike rental"),
        ("E-Bike rental", "E-bike rental"),
    ],
)
def test_match_option_services(text: str, key: str) -> None:
    assert match_option(text, SERVICES) == key


def test_match_option_whole_takes_only_a_whole_alias() -> None:
    services = {"Vaccination": ["shots"], "Puppy and kitten visit": ["first visit", "kitten visit"]}
    assert match_option("after 6, whatever's first", services) == "Puppy and kitten visit"  # one word of an alias
    assert match_option("after 6, whatever's first", services, whole=True) is None
    assert match_option("it's her first visit", services, whole=True) == "Puppy and kitten visit"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("could I book one of your hour and a half lessons", "Extended lesson"),
        ("the 90 minute lesson on monday", "Extended lesson"),
        ("just an hour lesson please", "In-car lesson"),
        ("a sixty minute lesson", "In-car lesson"),
        ("the half hour consult", None),  # the only consult: its name is enough, its length no part of it
        ("can you do it at half ten", None),  # "half" alone names nothing
    ],
)
def test_a_service_is_named_by_its_length_beside_another_of_its_kind(text: str, key: str | None) -> None:
    services = [
        ServiceInfo("In-car lesson", (), 60, None, None),
        ServiceInfo("Extended lesson", (), 90, None, None),
        ServiceInfo("Consult", (), 30, None, None),
    ]
    assert match_option(text, length_names(services), typos=False, whole=True) == key


def test_a_length_two_of_a_kind_share_names_neither_of_them() -> None:
    services = [ServiceInfo("Swedish massage", (), 60, None, None), ServiceInfo("Deep massage", (), 60, None, None)]
    assert length_names(services) == {}


def test_match_option_staff_and_choices() -> None:
    assert match_option("could I book a bike fit with Dana on thursday", STAFF) == "Dana"
    assert match_option("luis please", STAFF) == "Luis"
    assert match_option("I'm a beginner", LEVELS) == "beginner"
    assert match_option("I have some experience", LEVELS) == "intermediate"


def test_match_option_prefers_longest_alias() -> None:
    options = {"Flat": ["flat"], "Flat tire repair": ["flat tire"]}
    assert match_option("I have a flat tire", options) == "Flat tire repair"


def test_match_option_takes_a_word_said_whole_before_one_a_typo_away() -> None:
    vet = {"Vaccination": ["needles", "shots"], "Nail trim": ["nails"], "Hydrotherapy": ["water"]}
    assert match_option("need Rocco's nails done", vet) == "Nail trim"  # "need" is one edit from "needl"
    assert match_option("my dog needs his neddles", vet) == "Vaccination"  # a typo still finds it
    assert match_option("a swim in the watr", vet) == "Hydrotherapy"  # one edit from "water"...
    assert match_option("a swim in the watr", vet, typos=False) is None  # ...unless only whole words count


def test_an_alias_of_words_no_other_option_has_wins_over_a_longer_shared_one() -> None:
    """ "windows doing" could be any window clean; "detached" is one service's alone."""
    windows = {
        "Standard Window Clean": ["window clean", "windows doing", "semi"],
        "Large House Window Clean": ["detached", "big house"],
        "Deep Window Clean": ["deep clean"],
    }
    line = "I've got a big detached in Roundhay wants its windows doing the day after tomorrow"
    assert match_option(line, windows) == "Large House Window Clean"
    assert match_option("just the windows doing on a semi", windows) == "Standard Window Clean"
    assert match_option("a deep window clean", windows) == "Deep Window Clean"


def test_a_longer_alias_a_typo_away_wins_over_the_word_of_it_said_whole() -> None:
    """ "a diver fitting" is the Driver Fitting, not the "fitting" another service goes by."""
    golf = {"Club Fitting": ["club fitting", "fitting"], "Driver Fitting": ["driver fitting"]}
    assert match_option("want to book a diver fitting with Travis on fry day", golf) == "Driver Fitting"
    assert match_option("I need a fitting", golf) == "Club Fitting"


def test_a_word_heard_as_two_names_the_option() -> None:
    """Speech-to-text hears "placement" as "place meant", "restring" as "re string"."""
    school = {"Placement Assessment": ["placement test", "level test"], "Private Lesson": ["private"]}
    assert match_option("do I gotta pay for the place meant test", school, typos=False, whole=True) == (
        "Placement Assessment"
    )
    assert match_option("is there a place to park", school) is None


def test_a_day_of_the_week_is_no_word_of_a_service() -> None:
    """ "What time y'all close this Saturday?" asks for no Saturday class; said whole, it is one."""
    handyman = {"Homeowner Basics Class": ["diy class", "saturday class"], "Gutter Cleaning": ["gutters"]}
    assert match_option("what time y'all close this saturday", handyman) is None
    assert match_option("is there room on the saturday class", handyman) == "Homeowner Basics Class"


def test_an_everyday_word_is_no_typo_of_a_service_word() -> None:
    """ "could" is one edit from "mould", "later" from "water": neither names a service."""
    clinic = {"Custom earplugs": ["ear moulds", "swim plugs"], "Hydrotherapy": ["water"]}
    assert match_option("could someone look at it monday", clinic) is None
    assert match_option("the later one", clinic) is None
    assert match_option("I need new ear mould", clinic) == "Custom earplugs"


@pytest.mark.parametrize("text", ["", "nothing here", "what are your hours"])
def test_match_option_none(text: str) -> None:
    assert match_option(text, SERVICES) is None
    assert match_option(text, {}) is None


def test_a_service_word_said_with_its_s_is_the_service_and_one_is_no_distinctive_word() -> None:
    options = {
        "Trouser Hem": ["hem", "take up trousers", "shorten trousers"],
        "Zip & Button Repair": ["zip", "zipper", "new zip"],
        "Children's check-up": ["kids check-up", "little one's check-up"],
    }
    assert match_option("the zip's gone on my good trousers", options) == "Zip & Button Repair"
    assert match_option("one of my back teeth has been throbbing all night", options) is None


def test_a_name_is_named_by_its_words_in_a_row_that_no_other_option_has() -> None:
    options = {
        "Maths Tutoring": ["maths", "maths tutor"],
        "Exam Prep Session": ["exam prep"],
        "Swamp Kayak Tour": ["swamp tour"],
        "Private Swamp Tour": ["private tour"],
    }
    line = "my son's Higher maths prelim is coming up and he wants a prep session with him"
    assert match_option(line, options) == "Exam Prep Session"
    assert match_option("one spot on the swamp tour sunday", options) == "Swamp Kayak Tour"


def test_trigger_words_are_said_inflected_or_not() -> None:
    assert says_phrase("do yous do gift vouchers? I want one for our Clodagh", ["gift voucher"])
    assert says_phrase("can you pick us up from the hotel", ["pick us up"])
    assert not says_phrase("a voucher for a gift", ["gift voucher"])
    assert not says_phrase("every bit of his uniform needs his name in it", ["uniforms"])  # one word: as said
    assert says_phrase("Pretty sure it's squirrels.", ["squirrel"])  # or in its plural
    assert says_phrase("we're selling his piano", ["selling my piano"])  # whoever's it is
    assert not says_phrase("do you sell a bike", ["sell my bike"])


def test_a_long_service_word_heard_as_two_words_is_found_a_typo_or_two_away() -> None:
    options = {
        "Telehealth Consultation": ["telehealth", "video call"],
        "Group Cooking Class": ["healthy cooking class"],
    }
    assert match_option("any chance of a telly health appointment on Monday?", options) == "Telehealth Consultation"
    assert match_option("a healthy cooking class", options) == "Group Cooking Class"
