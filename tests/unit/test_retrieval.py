"""Knowledge retrieval answers callers' spoken questions from the demo shop's data."""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from sera.agent.understanding.embedding import embedder
from sera.knowledge.retrieval import Document, Hit, KnowledgeIndex, plain_verbs

THRESHOLD = 0.35

# The demo shop's knowledge (examples/demo-shop.yaml), as a merchant writes it.
DEMO_SHOP = yaml.safe_load(
    """
faq:
  - q: Do you have parking?
    a: Yes, there is free parking in the lot behind the shop, entrance on Wood Street.
  - q: Do you take walk-ins for repairs?
    a: We take walk-ins for flat repairs when a mechanic is free; for everything else
      please book an appointment.
  - q: How long does a tune-up take?
    a: A tune-up takes about an hour; we usually have the bike ready the same day.
  - q: Do you rent bikes?
    a: Yes, we rent city bikes for 35 dollars a day and e-bikes for 60 dollars a day.
      Bring a photo ID.
  - q: Do you sell gift cards?
    a: Yes, gift cards from 25 to 500 dollars are available in the shop and on our website.
  - q: Do you offer financing?
    a: Yes, purchases over 500 dollars can be paid in 4 or 12 monthly installments
      through our online checkout.
  - q: Can I bring my own parts?
    a: Yes, we install customer parts; labor is charged at our normal service rates.
  - q: Do you service e-bikes?
    a: We service most e-bikes for mechanical work such as brakes, tires and drivetrain,
      but not motors or batteries.
policies:
  returns: Unused items can be returned within 30 days with the receipt for a full refund.
    Bikes can be returned within 14 days if ridden less than 20 miles.
  shipping: Orders ship within 2 business days. Shipping is free on orders over 75 dollars;
    otherwise it is 8 dollars. Bikes ship partially assembled.
  warranty: New bikes include free adjustments for the first 6 months and a lifetime frame
    warranty from the manufacturer.
  cancellations: Appointments can be cancelled or moved free of charge up to 2 hours before
    the start.
products:
  - {title: Trailblazer 29 Mountain Bike, sku: TB29-M, price: 1249.00, in_stock: true,
     description: "Aluminium frame, 12-speed, hydraulic disc brakes."}
  - {title: Metro 3 City Bike, sku: MET3, price: 649.00, in_stock: true,
     description: "Step-through frame, 3-speed internal hub, fenders and rack."}
  - {title: Volt E-Commuter, sku: VOLT-EC, price: 2399.00, in_stock: false,
     description: "Pedal-assist e-bike, 60 mile range, integrated lights."}
  - {title: Swift Road 105, sku: SW105, price: 1799.00, in_stock: true,
     description: "Carbon fork, Shimano 105 groupset."}
  - {title: Commuter Helmet, sku: HLM-COM, price: 59.00, in_stock: true,
     description: "MIPS helmet with rear light."}
  - {title: Kids Balance Bike, sku: KBB-12, price: 129.00, in_stock: true,
     description: "12 inch wheels, ages 2 to 4."}
  - {title: U-Lock Heavy Duty, sku: ULOCK-HD, price: 79.00, in_stock: true,
     description: "16mm hardened steel shackle."}
  - {title: Floor Pump Pro, sku: PUMP-PRO, price: 49.00, in_stock: true,
     description: "Dual head pump with gauge, up to 160 psi."}
  - {title: Winter Gloves, sku: GLV-WIN, price: 39.00, in_stock: false,
     description: "Insulated, touchscreen fingertips."}
  - {title: Rear Rack, sku: RACK-R, price: 45.00, in_stock: true,
     description: "Fits most frames with eyelets, 25 kg load."}
services:
  - name: Tune-up
    duration_min: 60
    price: 89.00
    description: "Drivetrain clean, brake and gear adjustment, safety check."
    aliases: ["tune up", "tuneup", "basic service", "bike service"]
  - name: Flat tire repair
    duration_min: 30
    price: 25.00
    description: "Tube replacement or patch, tire check, inflation."
    aliases: ["flat", "flat tire", "puncture", "tube replacement"]
  - name: Bike fitting
    duration_min: 90
    price: 150.00
    description: "Professional fit: saddle height, reach, cleats."
    aliases: ["fitting", "bike fit", "fit"]
  - name: Brake service
    duration_min: 45
    price: 55.00
    description: "Pads, bleed for hydraulic brakes, rotor check."
    aliases: ["brakes", "brake bleed", "brake pads"]
"""
)
HOURS = "Monday to Wednesday and Friday 10 am to 6 pm, Thursday 10 am to 8 pm, Saturday 9 am to 5 pm. Closed on Sunday."


def product_document(product: dict[str, Any]) -> Document:
    stock = "In stock." if product["in_stock"] else "Out of stock."
    text = f"{product['description']} {stock} Price {product['price']} dollars."
    return Document(f"product:{product['sku']}", "product", product["title"], text)


def service_document(service: dict[str, Any]) -> Document:
    text = f"{service['description']} Takes {service['duration_min']} minutes. Price {service['price']} dollars."
    aliases = tuple(service["aliases"])
    return Document(f"service:{service['name']}", "service", service["name"], text, aliases)


def demo_documents() -> list[Document]:
    """The demo shop's knowledge, shaped the way the agent feeds it to the index."""
    docs = [Document(f"faq:{i}", "faq", e["q"], e["a"]) for i, e in enumerate(DEMO_SHOP["faq"])]
    docs += [Document(f"policy:{k}", "policy", k, v) for k, v in DEMO_SHOP["policies"].items()]
    docs += [product_document(product) for product in DEMO_SHOP["products"]]
    docs += [service_document(service) for service in DEMO_SHOP["services"]]
    docs.append(Document("hours", "hours", "Opening hours", HOURS))
    return docs


@pytest.fixture(scope="module")
def index() -> KnowledgeIndex:
    return KnowledgeIndex.build(demo_documents())


def top(index: KnowledgeIndex, query: str) -> Hit:
    hits = index.search(query)
    assert hits, f"no hit for {query!r}"
    return hits[0]


@pytest.mark.parametrize(
    ("query", "expected_id"),
    [
        ("is there somewhere to park near the shop", "faq:0"),
        ("do you guys rent e bikes and how much is it", "faq:3"),
        ("what's your return policy if I buy a bike", "policy:returns"),
        ("do you have the volt e-commuter in stock", "product:VOLT-EC"),
        ("how much do you charge for a tune-up", "service:Tune-up"),
        ("how much for a tune up", "service:Tune-up"),
        ("how long does a tune up take", "faq:2"),
        ("what time do you close on thursday", "hours"),
        ("do you deliver", "policy:shipping"),
        ("can I get a refund", "policy:returns"),
        ("do you do brake bleeds", "service:Brake service"),
        ("how much is the u lock", "product:ULOCK-HD"),
    ],
)
def test_callers_questions_find_the_answer_confidently(index: KnowledgeIndex, query: str, expected_id: str) -> None:
    hit = top(index, query)
    assert hit.document.id == expected_id
    assert hit.confidence >= THRESHOLD


@pytest.mark.parametrize(
    "query",
    [
        "what is the meaning of life",
        "asdf qwerty",
        "do you sell pizza",
        "I want to talk to a person",
    ],
)
def test_questions_the_shop_cannot_answer_stay_below_the_threshold(index: KnowledgeIndex, query: str) -> None:
    hits = index.search(query)
    assert not hits or hits[0].confidence < THRESHOLD


def test_a_query_of_only_stop_words_has_no_hits(index: KnowledgeIndex) -> None:
    assert index.search("what do you guys have, is it the one?") == []
    assert index.search("") == []


@pytest.mark.parametrize("spelling", ["e-bikes", "e bikes", "ebikes", "E-Bike"])
def test_hyphenated_words_match_however_speech_to_text_spells_them(index: KnowledgeIndex, spelling: str) -> None:
    assert top(index, f"do you service {spelling}").document.id == "faq:7"


def test_words_speech_splits_apart_match_the_word_written_as_one() -> None:
    index = KnowledgeIndex.build(
        [
            Document("radio", "faq", "Radio repair?", "We tune radios too."),
            Document("tuneup", "service", "Tuneup", "Drivetrain clean and safety check."),
        ]
    )
    assert top(index, "can you do a tune up").document.id == "tuneup"


def test_a_word_heard_as_two_is_the_word_the_shop_writes_not_its_halves() -> None:
    index = KnowledgeIndex.build(
        [
            Document(
                "pearls", "faq", "Do you restring pearl necklaces?", "Yes, from 30 pounds, knotted between each pearl."
            ),
            Document("strings", "product", "Guitar strings", "Nickel wound string set. Price 8."),
        ]
    )
    assert top(index, "how much to re string a necklace").document.id == "pearls"


def test_a_lone_letter_joins_the_next_word_in_the_shops_text_too() -> None:
    index = KnowledgeIndex.build(
        [
            Document("cars", "faq", "Do you rent cars?", "No, only bikes."),
            Document("ebikes", "faq", "Do you rent e bikes?", "Yes, 60 dollars a day."),
        ]
    )
    assert top(index, "ebike rental").document.id == "ebikes"


@pytest.mark.parametrize(
    "query",
    ["can I rent a bike", "bike rentals", "renting a bike", "bike hire"],
)
def test_inflections_and_synonyms_reach_the_rental_answer(index: KnowledgeIndex, query: str) -> None:
    assert top(index, query).document.id == "faq:3"


@pytest.mark.parametrize("query", ["where can I park", "parking", "is there a car park", "do you have parking"])
def test_park_and_parking_are_one_term(index: KnowledgeIndex, query: str) -> None:
    hit = top(index, query)
    assert hit.document.id == "faq:0"
    assert hit.confidence >= THRESHOLD


def test_service_aliases_find_the_service(index: KnowledgeIndex) -> None:
    assert top(index, "I need a puncture fixed").document.id == "service:Flat tire repair"
    assert top(index, "can I book a bike fit").document.id == "service:Bike fitting"


def test_a_title_match_outranks_the_same_word_in_body_text() -> None:
    index = KnowledgeIndex.build(
        [
            Document("lock", "product", "Cable Lock", "Long cable, keeps your helmet too."),
            Document("helmet", "product", "Road Helmet", "Light and vented, with a lock clip."),
        ]
    )
    assert [hit.document.id for hit in index.search("helmet")] == ["helmet", "lock"]
    assert [hit.document.id for hit in index.search("lock")] == ["lock", "helmet"]


def test_hits_are_ranked_limited_and_confidence_is_a_fraction(index: KnowledgeIndex) -> None:
    hits = index.search("bike price", limit=5)
    assert len(hits) == 5
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert all(0.0 <= hit.confidence <= 1.0 for hit in hits)
    assert index.search("bike price", limit=1) == hits[:1]
    assert index.search("bike price", limit=0) == []


def test_two_equally_good_answers_are_less_certain_than_one() -> None:
    parking = Document("parking", "faq", "Do you have parking?", "Free parking behind the shop.")
    unique = KnowledgeIndex.build([parking, Document("x", "faq", "Gift cards?", "Yes.")])
    twin = Document("parking-2", "faq", "Do you have parking?", "Free parking behind the shop.")
    ambiguous = KnowledgeIndex.build([parking, twin])
    certain = top(unique, "parking").confidence
    doubtful = top(ambiguous, "parking").confidence
    assert certain == pytest.approx(1.0)
    assert doubtful < certain


def test_half_answered_question_scores_lower_than_a_fully_answered_one(
    index: KnowledgeIndex,
) -> None:
    full = top(index, "do you sell gift cards").confidence
    partial = top(index, "do you sell gift cards shaped like unicorns").confidence
    assert partial < full


def test_duplicate_document_ids_are_rejected() -> None:
    doc = Document("faq:0", "faq", "Parking?", "Yes.")
    with pytest.raises(ValueError, match="faq:0"):
        KnowledgeIndex.build([doc, doc])


def test_an_empty_index_answers_nothing() -> None:
    assert KnowledgeIndex.build([]).search("parking") == []


def test_the_right_entry_is_found_among_500_faqs_and_2000_products() -> None:
    rng = random.Random(20261127)
    parts = [
        *("chain", "tire", "tube", "brake", "pad", "cable", "saddle", "pedal", "crank"),
        *("cassette", "derailleur", "fork", "helmet", "light", "pump", "bag", "rack"),
        *("fender", "bell", "bottle", "glove", "jersey", "shoe", "cleat", "lube", "stand"),
        *("trainer", "computer", "grip", "tape", "stem", "spoke", "rim", "hub", "rotor"),
    ]
    styles = ["road", "mountain", "gravel", "city", "kids", "cargo", "touring", "folding"]
    docs = demo_documents()
    for i in range(500):
        part, style = rng.choice(parts), rng.choice(styles)
        docs.append(
            Document(
                f"faq:synthetic:{i}",
                "faq",
                f"Do you stock {part}s for {style} bikes?",
                f"Yes, we keep {part}s for most {style} bikes; ask about sizes in the shop.",
            )
        )
    for i in range(2000):
        part, style = rng.sample(parts, 2), rng.choice(styles)
        title = f"{style.title()} {part[0].title()} {i}"
        text = f"{part[0].title()} with {part[1]} for {style} riding."
        product = {"sku": f"SYN-{i}", "title": title, "description": text}
        docs.append(product_document({**product, "price": rng.randint(5, 900), "in_stock": True}))
    index = KnowledgeIndex.build(docs)
    assert len(index) == len(demo_documents()) + 2500

    assert top(index, "is there somewhere to park near the shop").document.id == "faq:0"
    volt = top(index, "do you have the volt e-commuter in stock")
    assert volt.document.id == "product:VOLT-EC"
    assert volt.confidence >= THRESHOLD
    needle = next(doc for doc in docs if doc.id == "product:SYN-1234")
    assert top(index, f"how much is the {needle.title.lower()}").document is needle


@pytest.mark.parametrize(
    ("query", "expected_id"),
    [
        ("do you do instalments", "faq:financing"),
        ("can I get it on afterpay", "faq:financing"),
        ("what shots does my puppy need", "policy:vaccinations"),
        ("can I send it back if it doesn't fit", "policy:returns"),
        ("can I claim on my health fund", "faq:insurance"),
    ],
)
def test_everyday_words_find_the_shops_own_terms(query: str, expected_id: str) -> None:
    """Callers say "instalments" and "shots"; shops write "financing" and "vaccinations"."""
    shop = KnowledgeIndex.build(
        [
            Document("faq:financing", "faq", "Do you offer financing?", "Yes, 0% financing over 12 months."),
            Document("policy:vaccinations", "policy", "vaccinations", "Dogs must be vaccinated against parvo."),
            Document("policy:returns", "policy", "returns", "Unused items can be returned within 30 days."),
            Document("faq:insurance", "faq", "Do you take insurance?", "We process insurance rebates on the spot."),
            Document("faq:parking", "faq", "Is there parking?", "Free parking behind the shop."),
        ]
    )
    hits = shop.search(query)
    assert hits and hits[0].document.id == expected_id and hits[0].confidence >= 0.35


@pytest.mark.parametrize(
    "query",
    [
        "would my insurance cover the tune-up",
        "is there parking for the tune-up",
        "do you do the tune-up on afterpay",
        "is the tune-up under warranty",
        "are the tune-up lubes organic? I try to avoid chemicals",
        "do you do a military discount on the tune-up",
        "does the mechanic who does walk-ins speak Punjabi",
        "can I get in with a wheelchair for a walk-in",
    ],
)
def test_a_topic_the_shop_never_mentions_is_answered_by_none_of_its_entries(query: str) -> None:
    """The tune-up's entry names the tune-up, not the insurance, parking, financing or warranty asked about."""
    shop = KnowledgeIndex.build(
        [
            Document("service:tune-up", "service", "Tune-up", "Drivetrain clean, brake and gear adjustment."),
            Document("faq:walk-ins", "faq", "Do you take walk-ins?", "For flat repairs, when a mechanic is free."),
        ]
    )
    hits = shop.search(query)
    assert not hits or hits[0].confidence < THRESHOLD


@pytest.mark.parametrize(
    "query",
    [
        "if I called it off right now, would I get dinged for it?",
        "what if I had to pull out of it the day before",
        "hypothetically, if I had to knock it on the head, what would you sting me for?",
    ],
)
def test_phrasal_verbs_are_read_plainly(query: str) -> None:
    """ "call it off" is "cancel": the lexical and the dense search both read it so."""
    shop = KnowledgeIndex.build(
        [
            Document("policy:cancellations", "policy", "cancellations", "Please give 24 hours' notice to cancel."),
            Document("product:splint", "product", "Wrist Splint", "Night splint, left or right. Price 34."),
            Document("faq:parking", "faq", "Is there parking?", "Free parking behind the shop."),
        ]
    )
    assert top(shop, query).document.id == "policy:cancellations"
    assert plain_verbs("can you pull out a dent") == "can you pull out a dent"
    assert plain_verbs("if I bail, do you guys charge me?") == "if I cancel, do you guys charge me?"
    assert plain_verbs("if we have to pull out, do we lose the money") == "if we have to cancel, do we lose the money"


def test_a_phrase_is_read_around_the_thing_it_names() -> None:
    """ "pick my jacket up" is a pickup of the jacket."""
    shop = KnowledgeIndex.build(
        [
            Document("faq:collect", "faq", "Can someone else collect my jacket?", "Yes, with your ticket."),
            Document("faq:zip", "faq", "Can you replace a jacket zip?", "Yes, from 30 pounds."),
        ]
    )
    assert top(shop, "can my wife pick my jacket up").document.id == "faq:collect"


def test_an_initialism_spelled_out_letter_by_letter_is_the_initialism() -> None:
    index = KnowledgeIndex.build(
        [
            Document("bjj", "faq", "How much is BJJ?", "Unlimited BJJ is 220 dollars a month."),
            Document("bees", "faq", "Do you sell honey?", "Yes, from our own bees, 12 dollars a jar."),
        ]
    )
    assert top(index, "how much is the bee jay jay unlimited one per month").document.id == "bjj"
    assert top(index, "how much is the b j j").document.id == "bjj"


def test_a_word_typed_a_letter_wrong_is_the_shops_word_it_can_only_be() -> None:
    docs = [
        Document("walkin", "faq", "Do you take walk-ins?", "Walk-ins are welcome whenever a lane is free."),
        Document("party", "faq", "Do you do parties?", "Yes, party packages for 8 to 20 people."),
    ]
    index = KnowledgeIndex.build(docs, embedder())
    assert top(index, "can we show up without a reservaton").document.id == "walkin"
    # a word the model knows is meant as written, and a lexical index corrects nothing
    assert index._respelled("parties") == "parties"
    assert KnowledgeIndex.build(docs)._respelled("reservaton") == "reservaton"
