"""The offline brain: rule-based dialogue that needs no network and no model.

It understands speech-recognition text through ``sera.agent.language``, keeps its
memory in the conversation state (persisted between turns by the agent service),
confirms before anything is booked, moved or cancelled, re-asks what it did not
understand, and after three misunderstandings offers a person or a message. All
actions go through the shared tool registry, exactly as an LLM brain's would.
"""

from __future__ import annotations

import functools
import re
from calendar import day_name
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sera.agent.context import TurnContext
from sera.agent.language import (
    DateMatch,
    Intent,
    TimeMatch,
    detect_intents,
    expand_shorthand,
    extract_email,
    extract_name,
    extract_order_number,
    extract_phone,
    find_dates,
    looks_like_injection,
    match_option,
    next_against_this,
    normalize,
    order_number_readings,
    parse_date,
    parse_time,
    says_phrase,
    takes_back,
    words_to_number,
    yes_no,
)
from sera.agent.phrasing import say_day, say_hours, say_list, say_time, say_when, with_article
from sera.agent.ports import Action, ActionKind, Reply, Say
from sera.agent.tools import PARTS, WEEKDAYS, ToolRegistry, ToolResult
from sera.agent.understanding.embedding import embedder
from sera.agent.understanding.intents import canonical
from sera.agent.understanding.meaning import NAMES_PEOPLE, SHORT_ANSWER_WORDS, Meaning, plain_answer, understand
from sera.booking.slots import next_open_day
from sera.knowledge.retrieval import plain_verbs, says_only

MAX_MISSES = 3
# what a caller asks the agent to do; a question-shaped line is taken as one of these only when
# the classifier is at least SURE_OF_REQUEST of it ("can I book a trim friday" is a request)
REQUESTS = frozenset(
    {
        Intent.BOOK,
        Intent.RESCHEDULE,
        Intent.CANCEL,
        Intent.ORDER_STATUS,
        Intent.HUMAN,
        Intent.MESSAGE,
        Intent.OPT_OUT,
        Intent.PRIVACY_ERASURE,
        Intent.PRIVACY_ACCESS,
        Intent.PRIVACY_CORRECTION,
        Intent.PRIVACY_OBJECTION,
        Intent.GOODBYE,
    }
)
SURE_OF_REQUEST = 0.9
SUPPOSED = re.compile(r"\b(?:if|suppose|supposing|say|in case)\b\s+(.+?)(?:[?.!,]|$)")  # what a line only supposes
INSTEAD = re.compile(r"\b(?:instead|insteid|rather|make it|change it to|swap it)\b")  # another time for it
NOT_CANCELLING = re.compile(r"\b(?:not|no|never)\s+(?:\w+\s+)?cancel")
# a yes that asks for one of these as well ("yes, cancel it anyway") is that request
CHANGES_OF_MIND = frozenset({Intent.BOOK, Intent.RESCHEDULE, Intent.CANCEL})
# below this, a move or cancel from a caller with nothing booked is a booking when it names a
# service and a day, and a question when it is shaped like one
SURE_ENOUGH_TO_ASK = 0.6
# a question asked the long way round: "I wondered whether one of your doctors might come out"
WONDERS = (
    r"(?:i (?:was |am |'m |were )?(?:just )?(?:wondering|wondered|wonder)|i'?d like to know) (?:if|whether|what|how)\b"
)
QUESTION_OPENERS = re.compile(
    r"^(?:so |and |but |hi |hey |hello |ok |okay |yeah |also |just )*"
    r"(?:(?:a |one |two |three |a couple of |a few )?(?:quick |wee |small |little )?(?:questions?|things?|ones) )?"
    r"(?:what|whats|what's|how|hows|how's|do|does|did|is|isn't|are|aren't|can|could|will|would|have|has|should"
    r"|when|where|who|why|which|if|any|am)\b|^" + WONDERS
)
# a clause after a comma that asks: a question word before a verb ("what happens if I'm late"), or
# an auxiliary before its subject ("am I covered"), also after an if ("if it dies at 2am do I have to
# wait"); not "and when I opened the box", a story
CLAUSE_ASKS = re.compile(
    r"^(?:so |and |but |like |or |also |just )*(?:"
    r"(?:what|whats|how|when|where|who|why|which) (?:is|are|was|do|does|did|can|could|will|would|should|happens"
    r"|long|much|many|time|kind|sort|about)|(?:where|how|who|when)'s"
    r"|(?:if .{1,60}? )?(?:am|is|are|do|does|can|could|will|would|should|have|has) "
    r"(?:i|you|we|they|it|he|she|there|that|this|somebody|someone|anybody|anyone)"
    r"|" + WONDERS + r")\b",
    re.I,
)
PRIVACY_TYPES = {
    Intent.PRIVACY_ERASURE: "erasure",
    Intent.PRIVACY_ACCESS: "access",
    Intent.PRIVACY_CORRECTION: "correction",
    Intent.PRIVACY_OBJECTION: "objection",
}
TASK_INTENTS = {
    "book": Intent.BOOK,
    "reschedule": Intent.RESCHEDULE,
    "cancel": Intent.CANCEL,
    "support": Intent.SUPPORT,
    "message": Intent.MESSAGE,
}
PRIVACY_WORDS = {
    "erasure": "delete the personal data they hold about you",
    "access": "send you a copy of the personal data they hold about you",
    "correction": "correct the personal data they hold about you",
    "objection": "stop using your personal data for anything but serving you",
}
ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "last": -1}
# "the later one", "the earliest": a choice among offered times by their order in the day
EARLIEST = re.compile(r"\b(earliest|earlier|soonest|sooner|first available)\b")
LATEST = re.compile(r"\b(latest|later|last one)\b")
MOVE_WORDS = re.compile(
    r"\b(move|push|switch|shift|bump|reschedule)\b.*\bmy\b|\bmy\b.*\b(move|moved)\b"
    r"|\b(?:booked|booking|appointment|i'?ve got|i have|i'?ve a)\b.*\b(?:move|push|switch|shift|bump|reschedule)\b"
)
# a line that asks for another time instead ("any chance of later on that day?", "a different day")
OTHER_TIME = re.compile(
    r"\b(?:later|earlier) (?:on|in|that|the|slot|time|appointment)\b"
    r"|\b(?:another|other|different|new) (?:day|time|slot|date)\b|\binstead\b"
)
SAYS_CANCEL = re.compile(r"\b(?:cancel\w*|call (?:it|that|this) off|scrap)\b")
# a line that speaks of an appointment already made ("I've a tasting booked Thursday", "my appointment")
HAS_BOOKING = re.compile(
    r"\b(?:booked|(?:my|the|our) (?:appointment|booking|slot)|(?:push|move|bump|shift) (?:it|that|this)"
    r"|(?<!can )(?<!could )(?<!may )(?:i'?ve got|i have|i'?ve) (?:a|an|my)\b.*\b(?:on|this|next|at)\b)"
)
# words that ask for a visit, beside one of the shop's services ("can I bring him in for his rabies
# shot", "send someone to flush my water heater", "can I set that up with her")
BOOKING_WORDS = re.compile(
    r"\b(earliest|available|availability|opening|openings|slot|appointment|fit me in|come in"
    r"|squeeze (?:me|him|her|us|them) in|(?:bring|get) (?:him|her|them|it|me|us) in"
    r"|set (?:it|that|this|one|something) up|send (?:someone|somebody|a tech\w*)|come (?:out|over|round|around|by)"
    r"|(?:want|have|get|see|book) (?:her|him|them) again)\b"
)
# a question how an order or its refund stands, which the classifier may hear as a complaint
STATUS_CHECK = re.compile(
    r"\b(?:check(?:ing)? (?:on|in on|whether|if|that|the|my)|any (?:news|updates?) on"
    r"|(?:did|has) (?:my|the) (?:refund|money)"
    # "did y'all ever process my refund?", "have you sent my refund yet", "has the refund gone through"
    r"|(?:did|have|has) (?:you|y'?all|yous|youse|ye|u|you guys|anyone|someone|it|the \w+)(?: \w+)?"
    r" (?:process\w*|issue\w*|sen[dt]\w*|put\w* through|gone through|go through|refund\w*|pa(?:id|y) (?:me|us|back)))\b"
    r".*\b(?:refund(?:ed)?|money|parcel|package|order)\b"
)
# an order that did not reach the caller ("I never got my E-City", "it still hasn't turned up")
NOT_ARRIVED = re.compile(
    r"\b(?:never|not yet|yet to|hasn'?t|has not|haven'?t|have not|didn'?t|did not)\s+(?:\w+\s+)?"
    r"(?:got|gotten|get|received?|arrived?|come|came|turned up|shown up|showed up|been (?:delivered|sent|shipped))\b"
    r"|\bstill waiting\b|\bnever heard (?:anything|another (?:thing|word)|a (?:thing|word))\b|\bheard nothing\b"
)
# a complaint about something bought (not a service) is filed with its order number
ABOUT_AN_ORDER = re.compile(r"\b(order|ordered|delivery|delivered|parcel|package|shipment|arrived|purchase|bought)\b")
IDENTITY_TRIES = 2  # a caller whose appointment two name-and-day answers do not find is offered a person
MESSAGE_IN_REQUEST = 8  # words: a request to leave a message this long carries the message itself
ANY_TIME = re.compile(
    r"\b(any ?time|anything|whenever|whatever|doesn'?t matter|don'?t mind|not fussed|you (pick|choose)"
    r"|what(ever)? you have)\b"
)
# a caller asking which times are free wants to hear them (when they are few enough to say all)
WHATS_FREE = re.compile(
    r"\bwhat (?:have you|you've|you|have ye|have yous) got\b(?! (?:for|in) (?:my|our)\b)"
    r"|\bwhat (?:do you|do ye) have\b"
    r"|\bwhat(?:'s| is) (?:available|free|open|going)\b|\bwhat (?:times|slots|openings)\b"
    r"|\bany (?:openings|availability|slots|spaces|times) (?:on|for|this|next|tomorrow)\b"
)
PLAIN_ANSWER_WORDS = 3
OFFERS = frozenset({"anything_else", "take_message", "fallback_offer", "open"})  # yes, no, or a new request
BARE_WORDS = 5  # a line of a service, a day or a time alone, said out of the blue, books
REPEAT = re.compile(  # "sorry, could you repeat that": what the agent said last, said again
    r"\b(repeat (that|it|yourself|those|the (question|times|options))|say (that|it|those) again|come again"
    r"|what was that|(didn'?t|did not|couldn'?t) (catch|hear|get) (that|you|it|what you said)|pardon)\b"
    r"|^(sorry|what|huh)$"
)
REPEAT_WORDS = 8
SAYS_AGAIN = 0.9  # a line this close in meaning to the one that started the task says it again
DESCRIBES_CORRECTION = 10  # a request to correct data this long says what is wrong
WEEK_ONLY = frozenset({"next week", "this week", "the week after", "the following week"})
ASKS_PRICE = re.compile(  # what something costs, asked before any booking ("roughly what would it run me")
    r"\b(how much|prices?|pricing|ballpark|set me back"
    r"|what (?:do|does|would|will) (?:it|that|this|you|they|a|an|the)\b[^.?!]*\b(?:cost|charge|run)\b)"
)
SENTENCE = re.compile(r"(?:[^.!?]|\.(?=\d))+[.!?]*")  # "9.30" ends no sentence
# a second question joined to the first ("what do you charge for a test, and is it right the kids go
# free?"): where the line is cut to search each
AND_ASKS = re.compile(
    # "..., and like how long does it take", "..., and while I've got you, do you ..."
    r",?\s+\b(?:and|an'?|also|plus|n)\s+(?:(?:like|um|uh|so)\s+|(?:while i'?ve got you|while i'?m at it|by the way|btw|"
    r"one more thing|another thing|oh)\s*,?\s*)?"
    r"(?=(?:what|whats|what's|is|are|do|does|can|could|will|would|how|when|where|who|why|should|have|has)\b)"
    # "is there parking at your place or should I just take the streetcar": each way is asked
    r"|,?\s+\bor\s+(?=(?:should|shall)\s+(?:i|we)\b)",
    re.I,
)
# a question about what would happen, not a request to do it ("what happens if I can't make it",
# "do you charge if I cancel the day of", "is there a fee to move it")
WHAT_IF = re.compile(
    r"\b(?:what happens|what would happen|what if|is there (?:a|any) (?:fee|charge|penalty|cost)"
    r"|(?<!what )(?<!much )do (?:you(?: guys| all| lot)?|they|y'all|yall|youse|yous|ye|ya|u) (?:still )?charge"
    r"|(?:cost|charge|damage|fee|price|penalty) (?:me |us |be )?if (?:i|we)\b"
    r"|do i (?:still )?(?:have to|need to|get to)? ?pay|(?:will|would) i (?:still )?"
    r"(?:be charged|get charged|have to pay|lose)|how much notice"
    r"|(?:fees?|penalty|(?:a|any|the|no|extra|cancellation|late) charge) (?:for|if|to)"
    r"|(?:do|would|will) we (?:still )?(?:be charged|get charged|have to pay|lose|pay)"
    # "if I had to cancel that morning, would that be ok"; "say it dies in July, what then"
    r"|if i (?:had|were|was|needed) to|(?:what|how) (?:then|now)$|then what$"
    # "how late can I change it without copping a fee? not changing it yet"
    r"|without (?:\w+ )?(?:a |any )?(?:fee|charge|penalty)"
    r"|(?:not|no) (?:cancell?ing|changing|moving|rescheduling) (?:it|yet|now|anything)"
    r"|(?:i'?m|a'?m|am) (?:not|no) (?:cancell?ing|changing|moving|rescheduling))\b"
    # a supposition and what it would cost ("suppose I cancel now only, any charges will be there?",
    # "if I called it off right now, would I get dinged for it?", "if I cancel, do I lose my deposit?")
    r"|\b(?:if|suppose|supposing|say|what if) (?:i|we)\b.*\b(?:charg\w*|fees?|cost|costs|pay|lose|dinged|penalt\w*"
    r"|sting|refund\w*|money back|billed)\b"
    # and the other way round: "what it would cost me if I did"
    r"|\b(?:cost|charge|fee|penalty)s?\b.*\bif i (?:did|do|were to|had to|cancel\w*|call\w* (?:it )?off)\b"
)
MAX_ANSWERS = 2
VAGUE_TERMS = frozenset({"price", "thing", "stuff"})  # a question of these words alone has no subject of its own
# "did my creatine ever get dropped off", "my chrome powder order": what the caller bought, not the
# shop's product or its shipping policy
OWN_ORDER = re.compile(
    r"\b(?:did|has|have|was|were|is) (?:my|our)\b|\b(?:my|our)\b(?:\s+\S+){0,3}?\s+(?:order|parcel|package|delivery)\b"
)
LATE = re.compile(r"\b(?:minutes?|mins?|hours?) late\b|\brunning (?:late|behind)\b|\bbe (?:a (?:bit|little) )?late\b")
# when a staff member works: "what days is Dr. Tremblay in?", "does Sam work Saturdays", "when's Priya back"
WORKS_WHEN = re.compile(
    r"\b(?:what|which) days? (?:is|does|do|are|'s)\b|\bwhen(?:'s| is| does| do)\b.{0,40}\b(?:in|work|working|back)\b"
    r"|\b(?:does|is) .{1,30} (?:work|working)\b|\bdays? off\b|\bis \w+(?: \w+)? in (?:today|tomorrow|on|this|next)\b"
)
WANTS = re.compile(r"\b(?:i'?d like to|i want to|i wanna|can i|could i|book|set up)\b")  # asks for something
# "is there anyone to mind him", not "anyone to talk to"
ANYONE_TO = re.compile(
    r"\b(?:is there|have you got|do you have|you got) (?:anyone|anybody|someone|somebody) (?:to|who can|that can) "
    r"(?!talk|speak|chat|answer|help me|take (?:a|my) (?:message|call))"
)
IS_SOMETHING = r"(?:a|an|certified|qualified|registered|trained|accredited|licensed|insured|experienced|any good)\b"
SEND_SOMEONE = re.compile(r"\bsend (?:someone|somebody|a tech\w*|a (?:guy|bloke|man|lad|fella|person)|one of your)\b")
TALK_TO = re.compile(r"\b(?:talk|speak|chat|natter|(?:have|need|want|grab) a (?:quick |wee |little )?(?:word|yarn))\b")
# "am I talking to a real person or one of them robot things?": whether the agent is a person, asked
ASKS_IF_BOT = re.compile(
    r"\b(?:are you|r u|you're|youre|am i (?:talking|speaking|talkin|speakin|chatting|texting)(?: to| with)?"
    r"|is this|is that|this is)(?: just| only| actually| even| like| really)?"
    r"(?: an?| one of them| one of those| some)?(?: real| actual| live)?"
    r" (?:person|human|humans|people|robot|robots|bot|bots|machine|computer|ai|a\.i\.|automated|recording|recorded)\b"
    r"(?! (?:hair|resources?|trafficking|rights))"
)
# the line demands a person, beyond asking what it is talking to ("are you a robot? I want a real human")
DEMANDS_PERSON = re.compile(
    r"\b(?:i want|i need|get me|give me|put me through|let me (?:talk|speak)|can i (?:talk|speak)"
    r"|transfer me|connect me)\b"
)
# word for someone, asked for first ("please tell Lerato the gate code has changed", "can help me tell
# Farah I cannot come for tomorrow class"): the word that follows is whom it is for
TELL_SOMEONE = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|ok|okay)\W+)?(?:(?:please|pls|plz|kindly|can|could|would|will|just)\s+)*"
    r"(?:(?:you|u|ya|ye|yous)\s+)?(?:(?:please|pls|help me|help|just)\s+)*"
    r"(?:tell|let|remind|say to|pass (?:this |that |it )?(?:on )?to|give (?:a message )?to)\s+([a-z]+)"
)
# whether one may come as one is, or bring someone or something along ("can we jus show up 2nite w/o a
# reservation?", "can I bring me dog in when I come to look at fabrics?"): a question, however booking-like
ASKS_LEAVE = re.compile(
    r"\b(?:can|could|may|do|would|will)\s+(?:i|we|you|u|ya|y'?all|yous|ye)\s+(?:just\s+|still\s+|also\s+)?"
    r"(?:bring(?![^.?!]{0,30}\bin for\b)|show up|turn up|rock up|roll up|walk in|pop in|come without"
    r"|come in without|let)\b"
    r"|\bis it (?:ok|okay|alright|all right|fine)(?: if| to)\s+(?:i |we )?(?:just )?(?:bring|show up|turn up|walk in)\b"
    r"|\b(?:are|is) (?:dogs?|kids|children|pets|babies|strollers|prams|guests) (?:allowed|ok|okay|welcome)\b"
    r"|\bwithout (?:a |an |any )?(?:reservation|booking|appointment)\b"
    # or pay bit by bit: "can I pay off my box braids in bits, like lay-by, before I come in?"
    r"|\bpay (?:\w+ ){0,3}?(?:off|in (?:bits|instal\w*|part\w*|chunks))\b|\blay-?by\b"
)
# a payment taken twice or too much ("why did yall charge my card twice for the deposit??"): a fault to
# put right, not a question about the deposit
CHARGED_WRONG = re.compile(
    r"\b(?:charged|billed|debited|took|taken)\b[^.?!]{0,40}\b(?:twice|two times|double|2x|x2)\b"
    r"|\bdid (?:you|y'?all|yall|yous|youse|ye|u|you guys)\b[^.?!]{0,20}\b(?:charge|bill|take)\b[^.?!]{0,30}"
    r"\b(?:twice|two times|double|2x|x2)\b|\b(?:double|over)[- ]?(?:charged|billed)\b"
)
# what a caller asks to bring along ("can I bring me dog in when I come")
BRINGS = re.compile(r"\bbring (?:in |along )?(?:my |me |our |the |a |an |his |her |some |their )?([a-z]+)")
LEAVE_A_MESSAGE = re.compile(r"\b(?:take|leave|pass on|give them) a (?:message|msg)\b")
# a cancellation policy's notice period ("at least 24 hours' notice", "48-hour", "2 days before")
CANCEL_WORDS = re.compile(r"\bcancel", re.I)  # in words said plainly ("call it off" is "cancel")
NOTICE = re.compile(r"\b(\d{1,3})[- ](hours?|days?)['\u2019]? (?:notice|before|ahead|prior)\b", re.I)
FREE = re.compile(r"\b(?:free|no (?:charge|fee|cost)|without (?:a |any )?(?:charge|fee))\b", re.I)
KEPT = re.compile(r"\b(?:deposit|non-?refundable)\b", re.I)  # money that may be kept however early
CONDITION = re.compile(r"\bif\b\s+(.+?)(?:[?.!,]|$)", re.I)  # what a what-if question supposes
# when a product that is sold out comes back ("when are you getting more in", "any restock date")
RESTOCK = re.compile(
    r"\brestock\w*|\b(?:when|what date|how long|how soon|any idea)\b.*\b(?:back|more in|in again"
    r"|available again|due in|due back|next (?:delivery|batch|shipment|lot)"
    r"|get(?:ting)? (?:more|some|any|it|them)(?: \w+){0,6} (?:in|back)|get(?:ting)? more$"
    r"|stock (?:come|comes|coming|arrive|arrives|arriving)|(?:new|fresh) stock)\b"
    r"|\b(?:are|is) (?:they|it|those|these|them|that|the(?: \w+){1,3})(?: \w+)? back\b|\bback in stock\b"
    r"|\bin stock (?:yet|again)\b|\b(?:has|have)\b(?: \w+){1,6} (?:come|came|got) back(?: in)?(?: yet)?\b"
    r"|\bback in yet\b"
)
# the words that ask to act on an appointment: without them, a sure cancel or move is only the
# classifier's reading of a story ("I was going to pop in on Wednesday ...")
CHANGES = re.compile(r"\b(?:cancel|move|reschedul|change|push|shift|switch|bump|call off)\w*")
ACTS = re.compile(f"{CHANGES.pattern}|\\bbook\\w*")
WHEN_ASKED = re.compile(r"\b(?:what time|how late|how early|till when|until when)\b", re.I)
SHORT_PRICE_QUESTION = 5  # words
# a sum of money in an answer: "$79", "60 pounds", "189 AUD"
MONEY = re.compile(r"[$£€¥]\s?\d|\b\d+(?:[.,]\d\d)? ?(?:dollars?|bucks|pounds?|quid|euros?|cents?|pence|[A-Z]{3})\b")
HOURS_FOUND = {"found": True, "kind": "hours", "title": "hours", "confidence": 1.0}  # an answer from the hours
HOURS_WORDS = re.compile(r"\b(?:open|opening|opens|close|closing|closes|closed|shut|hours?)\b", re.I)
# a question asked mid-line: an auxiliary and who it asks about, after three words or more
EMBEDDED_ASK = re.compile(
    r"(?<=\w )(?<!\bi )(?:(?:do|does|can|could|will|would) (?:you|there|they|he|she|we)|(?:is|are) (?:there|you))\b"
    r"(?=(?: \w+){2})"
)
BUYS = re.compile(r"\b(?:buy|purchase|sell me|pick up a new|replacement)\b")  # a thing to take home
# a day of the week in general ("are you open on a Monday at all", "do you do Sundays"), not one date
HABIT = re.compile(rf"(?:on )?(?:{'|'.join(WEEKDAYS)})s")  # "Saturdays", "on Mondays": a habit, not a day
ANY_WEEKDAY = re.compile(rf"\b(?:on |of )?a ({'|'.join(WEEKDAYS)})\b|\b({'|'.join(WEEKDAYS)})s\b")
# a question that ends on what was said before it ("do you charge for that", "is that ok", "is it")
REFERS_BACK = re.compile(r"\b(?:that|it|this|them|those)(?: (?:ok|okay|alright|fine|allowed))?$")
MAY_BE_ABOUT = 0.15  # an intent the classifier gives this much is what a question may be about
# the words shops write about what callers ask of them (a question about not turning up is about
# the cancellations policy)
TOPICS = {
    "cancel": "cancel cancellation notice",
    "reschedule": "reschedule cancellation notice",
    "hours": "hours open",
    "order_status": "order delivery",
}
CAN_HELP_WITH = "I can help with appointments, orders, our hours, or questions about the shop."
SURE_ANSWER = 0.6  # a knowledge answer this sure wins over a line that also sounds like a booking
BEYOND_DOUBT = 0.95  # a knowledge answer this sure is the one, beside a service's price too
ALSO_ANSWER = 0.5  # a question of its own in a line ("... and is there anywhere to park") is answered this sure
TITLES = frozenset({"dr", "doctor", "mr", "mrs", "ms", "miss", "prof", "professor"})
MAYBE_MOVE = 0.05  # the classifier's least probability of a move for a booking that names the caller's own
SAME_TIME = re.compile(r"\b(same time|same slot|same hour)\b")
# A move's line tells of the old appointment and asks for the new time ("I've got Oscar in
# Thursday at ten but can we push it to Friday afternoon"): cut into clauses here, a clause
# that names only the appointment's own day speaks of the old one.
# a clause keeps the word that opens it ("... to sat": "sat" is a day after "to")
CLAUSE_BREAKS = re.compile(r"[,;!?]|\.(?!\d)|(?=\b(?:but|instead|to|until|till|so|because)\b)")  # not "9.30"
THAT_DAY = re.compile(r"\b(that|the same|same) day\b")
# a move of something already named: "push it back", "move that to Friday"
MOVE_IT = re.compile(r"\b(?:push|move|bump|shift|slide|put)\w* (?:it|that|this|them)\b")
# "push it back an hour", "half an hour later", "make it 30 minutes earlier": counted from the old time
HOUR_SHIFT = re.compile(
    r"\b(?:(an hour and a half|half an hour|a half hour|an hour|one hour|two hours|three hours|a couple of hours)"
    r"|(\d{1,3}|fifteen|twenty|thirty|forty[- ]five|forty) (?:minutes|mins))\b"
)
# the words that make a length of time a shift of the old time ("an hour later", "bump it half an
# hour", "move it up an hour"): a shift wins over a clock time the line tells of ("... up an hour?
# I gotta grab my kid from hockey at five")
SHIFTS = re.compile(r"\b(?:later|earlier|sooner|back|forward|up|prepone\w*|push\w*|bump\w*|shift\w*)\b")
MOVED_TO = re.compile(r"(?:to|till|until)\b")  # a clause that names where a move goes
WEEK_DAYS = 7
MOVE_TIME_WORDS = 3  # ... with its time this near its start
SHIFT_MINUTES = {"an hour and a half": 90, "half an hour": 30, "a half hour": 30, "an hour": 60, "one hour": 60}
SHIFT_MINUTES |= {"two hours": 120, "three hours": 180, "a couple of hours": 120, "fifteen": 15, "twenty": 20}
SHIFT_MINUTES |= {"thirty": 30, "forty": 40, "forty five": 45, "forty-five": 45}
# "push it a day", "two days later", "the day after": counted from the old day
COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "couple of": 2}
SHIFT_BY = re.compile(
    r"\b(?:push|move|bump|slide|shift|put)\w*\b.*?\b(a|an|one|two|three|couple of)\s+(day|week)s?\b"
    r"|\b(a|an|one|two|three|couple of)\s+(day|week)s?\s+later\b"
)
# what already happened: a day said in such a clause is no day wanted ("I picked them up on Monday",
# "you guys replaced the valve in June", "got my belly button done on Sunday"), though a wish in the
# past tense is still a wish ("I was hoping to come Friday", "I wanted Saturday")
PAST = re.compile(
    r"\b(?!you (?:guys )?got\b)"  # "what have you got Saturday", "you got anything Friday": what is free
    r"(?:i|we|he|she|they|you|you guys|someone)\s+(?:just\s+|already\s+|only\s+)?"
    r"(?!(?:wanted|hoped|wondered|needed|liked|planned|meant|was going|were going|was hoping|were hoping"
    r"|was wondering|was thinking|was planning|was looking|was meaning)\b)"
    r"(?:\w+(?<!e)ed|did|was|were|went|came|bought|paid|got|had|took|left|brought|gave|made|sent|saw|broke|wore)\b"
    r"|\b(?:yesterday|ago|last)\b"
)
# the shop's own work, told of ("you guys replaced my windshield", "your mechanic fitted the tyres")
SHOP_DID = re.compile(
    r"\b(?:you|you guys|y'?all|your (?:guy|guys|team|tech|technician|mechanic|fitter|staff|lad|lads|people))\s+"
    r"(?:just\s+|only\s+|already\s+)?(?:\w+(?<!e)ed|did|done|put|cut|made|sold|gave|took|sent|fit)\b"
)
# whether the shop does a kind of work at all, asked after the trouble that makes the caller ask
# ("the wee screw's fell oot ma specs, dae yous fix glasses at all?", "got aircon or not?"): a question
DOES_IT_AT_ALL = re.compile(
    r"\b(?:(?:do|does|dae)\s+(?:you|yous|youse|ye|ya|u|y'?all|you guys|you lot|you folks)\s+(?:\w+\s+)?"
    r"(?:fix|repair|mend|sort|do|deal with|handle|work on|service|replace)\b(?!\s+(?:it|them|mine|my|our|me)\b)"
    r"|(?:can|could|would|will)\s+(?:you|yous|youse|ye|ya|u|y'?all|you guys|you lot|you folks)\s+(?:\w+\s+)?"
    r"(?:fix|repair|mend|sort|do|deal with|handle|work on|service|replace)\b[^.?!]*?"
    r"(?:\bat all\b|\b(?:that|this|those) (?:sort|kind|type) of (?:thing|things|job|jobs|work)\b"
    r"|\bthings? like (?:that|this)\b)"
    r"|\bgot\b[^.?!,]*\bor not\b)"
)
MAYBE_COMPLAINT = 0.1  # the classifier's least probability of a complaint for work done to be one
ADDED = re.compile(r"\b(?:also|too|as well|while)\b")  # "can you also do his nails": one more thing
# where a clause ends; not at a comma before a correction ("next Thursday, I mean the one after")
PAST_BREAKS = re.compile(
    r"[;!?]|\.(?!\d)|,(?!\s*(?:i mean|sorry|not this|the one after|the following)\b)|\b(?:and|but|so)\b", re.IGNORECASE
)
EARLIER = re.compile(
    r"\b(earlier|forward|sooner|prepone\w*)\b|\bup (?:by )?(?:an?|one|two|half|\d+|fifteen|twenty|thirty)\b"
)
# a day the caller turns down: "Saturday's no good", "Friday doesn't work for me after all"
NO_GOOD = re.compile(r"\b(?:no good|not good|(?:doesn'?t|does not|won'?t|wouldn'?t) (?:work|suit)|is out)\b")
# the day after the appointment's, not "the day after tomorrow" or "the day after the long weekend"
DAY_AFTER = re.compile(r"\b(?:day after(?!\s+(?:tomorrow|the|that|this|next|\w+day)\b)|next day|following day)\b")

SHORT_NO = 6  # words: a longer line says no only in its first few
DATA_ABOUT_ME = re.compile(  # what a privacy request is about: the caller's data
    r"\b(?:data|info\w*|details|records?|file|account|profile|personal|privacy|name|surname|address|e-?mail"
    r"|number|phone|birthday|spel\w+)\b|\b(?:on|about|of|from) (?:me|us)\b"
)
NO_MORE = re.compile(r"\b(no|nope|nothing|that'?s (all|it)|all set|i'?m good|i'?m done)\b")


def within(ranges: list[tuple[time, time]], part: str | None) -> list[tuple[time, time]]:
    """Opening ranges cut to a part of the day ("afternoon"): what is open then."""
    if part not in PARTS:
        return ranges
    lo, hi = PARTS[part]
    return [(max(start, lo), min(end, hi)) for start, end in ranges if max(start, lo) < min(end, hi)]


def asks_question(raw: str) -> bool:
    """Shaped like a question: a question mark, a question word or auxiliary first, a clause or a
    sentence that opens like a question after the first ("I've got my lesson tomorrow at four, what
    happens if I'm late"; "... trees, the lot. is there a way to pay it off"), or a what-if anywhere."""
    text = expand_shorthand(raw)  # "hw much r ..." too
    if "?" in raw or QUESTION_OPENERS.search(text) or WHAT_IF.search(normalize(raw)):
        return True
    return bool(asking_part(raw))


def asking_part(raw: str) -> str:
    """The line from its first clause after the first that asks, when one does ("my boy's mad keen
    on guitar, could he have a go first, like a trial, Saturday at nine?"), else ""."""
    clauses = re.split(r"[,.;:!?]", raw[:500])
    for i, clause in enumerate(clauses[1:], start=1):
        if CLAUSE_ASKS.match(expand_shorthand(clause)):
            return ",".join(clauses[i:])
    if len(clauses) == 1:  # speech-to-text's line without a stop: "... went down the drain do y'all have one"
        heard = expand_shorthand(raw[:500])
        inside = EMBEDDED_ASK.search(heard)
        return heard[inside.start() :] if inside else ""
    return ""


def asked_sentences(raw: str) -> list[str]:
    """The sentences of a line that ask something: ending in a question mark, or opening like a
    question ("and is there anywhere to leave the car, Queen East is a nightmare")."""
    asked = []
    for sentence in SENTENCE.findall(raw):
        parts = AND_ASKS.split(sentence)
        head, _, tail = sentence.partition(", and ")
        if len(parts) == 1 and tail.rstrip().endswith("?") and QUESTION_OPENERS.search(expand_shorthand(head)):
            parts = [head, tail]  # "how much is a lash lift, and our Jade reckons I need a skin test, is she right?"
        for part in map(str.strip, parts):
            if part.endswith("?") or QUESTION_OPENERS.search(expand_shorthand(part)):
                asked.append(part)
            elif question := asking_part(part).strip():
                asked.append(question)  # "sweet as, do youse see babies": what it asks, past the "sweet as"
    return [s for s in asked if s]


def place_named(text: str, count: int) -> int | None:
    """The place among ``count`` choices read out in time order that a caller picks ("the
    earliest", "the later one", "the second"), or None when the line names none that is there."""
    if EARLIEST.search(text):
        return 0
    if LATEST.search(text):
        return count - 1
    for word, index in ORDINALS.items():
        if re.search(rf"\b{word}\b", text):
            return index % count if -count <= index < count else None
    return None


def names_its_weekday(found: DateMatch, old: date, clause: str) -> bool:
    """A bare weekday ("I have AC service booked Saturday") said of an appointment on that weekday
    is the appointment's day, though it is not the coming one; so is "next Thursday" for one a
    week either side of the Thursday read ("move my spray next Thursday up half an hour"), unless
    the move goes to it ("to next Thursday")."""
    words = found.text.split()
    if found.day.weekday() != old.weekday() or words[-1][:3] != old.strftime("%a").lower():
        return False
    if len(words) == 1:
        return words[0].isalpha()
    told = len(words) == 2 and words[0] in ("next", "this") and not MOVED_TO.match(normalize(clause))
    return told and abs((found.day - old).days) <= WEEK_DAYS


def nearest_to(found: DateMatch, old: date, today: date, clause: str) -> date:
    """A bare weekday said for a move is the one nearest the appointment: "I'm booked Saturday the
    6th ... can I do Sunday instead" is Sunday the 7th, not the coming Sunday before it; "the
    Tuesday after" is the first Tuesday after it."""
    if not found.text.isalpha():
        return found.day
    if re.search(rf"\b{found.text}s? after\b", normalize(clause)):
        return old + timedelta(days=(found.day.weekday() - old.weekday()) % WEEK_DAYS or WEEK_DAYS)
    weeks = max(0, round((old - found.day).days / WEEK_DAYS))
    nearest = found.day + timedelta(days=WEEK_DAYS * weeks)
    return nearest if nearest >= today else found.day


def moved_to(clause: str) -> TimeMatch | None:
    """The time the clause moves to, said within its first words: "to 3", "to the morning
    itself", "to Friday at 3", not "to grab my kid from school at four"."""
    said = expand_shorthand(clause)
    told = parse_time(clause) if MOVED_TO.match(said) else None
    return told if told is not None and len(said[: said.find(told.text)].split()) <= MOVE_TIME_WORDS else None


def question_tail(raw: str) -> str | None:
    """The last clause of a long question that asks on its own ("if the pump goes a few months
    later am I covered, like how long do you stand behind your work?"), when there is one; not one
    that asks about what the clause before it said ("if I need to move Saturday's slot, do y'all
    charge for that?")."""
    asked = asked_sentences(raw)
    clauses = [c.strip() for c in asked[-1].split(",")] if asked else []
    for clause in reversed(clauses[1:]):
        plain = re.sub(r"^(?:like|so|and|or|but|i mean)\s+", "", clause, flags=re.I)
        if QUESTION_OPENERS.search(normalize(plain)):
            return None if REFERS_BACK.search(normalize(plain)) else plain
    return None


class OfflineBrain:
    """A deterministic dialogue manager over the shared tools."""

    def greet(self, ctx: TurnContext) -> Reply:
        """The shop's greeting in the channel's own words: a text thread is not a call."""
        agent, first_name = ctx.shop.agent, ctx.caller.first_name
        if ctx.channel == "sms":
            default = f"Hi, this is {ctx.shop.agent_name} at {ctx.shop.name}. How can I help?"
            if first_name:
                default = f"Hi {first_name}, this is {ctx.shop.agent_name} at {ctx.shop.name}. How can I help?"
            text = str(agent.get("greeting_sms") or default).replace("{customer_first_name}", first_name or "there")
            return Reply(text + (self.upcoming_note(ctx) if first_name else ""))
        if first_name and agent.get("greeting_known_caller"):
            text = str(agent["greeting_known_caller"]).replace("{customer_first_name}", first_name)
            text += self.upcoming_note(ctx)
        else:
            default = f"Thanks for contacting {ctx.shop.name}, this is {ctx.shop.agent_name}. How can I help?"
            text = str(agent.get("greeting") or default)
        return Reply(text)

    @staticmethod
    def upcoming_note(ctx: TurnContext) -> str:
        """A recognised caller hears about their next appointment (within two weeks)."""
        listed = ToolRegistry([]).run(ctx, "list_my_appointments", {}).data.get("appointments", [])
        if not listed:
            return ""
        start = datetime.fromisoformat(listed[0]["start"])
        if (start - ctx.local_now).days > 14:
            return ""
        return f" I see you have a {listed[0]['service']} on {say_when(start, ctx.local_now.date())}."

    def respond(self, ctx: TurnContext, text: str, say: Say | None = None) -> Reply:
        reply = _Turn(ctx, ToolRegistry(ctx.shop.workflows), text).run()
        if say is not None and reply.text and not reply.ended:
            say(reply.text)  # written whole: one piece
        return reply


# wishes to be left alone, by the business or by its marketing: one wish, however the classifier splits it
LEAVE_ME_ALONE = frozenset({"privacy_objection", "opt_out", "privacy_erasure"})


def sureness(meaning: Meaning) -> float:
    """How sure the classifier is of what the caller wants. Asking for a person and asking to
    leave them a message are one wish (reach someone), so the two add up: "can someone call me
    back about my repair?" is split between them, and surely neither a question for the FAQ. So
    are the wishes to be left alone, by the business or by its marketing: "I don't want my details
    used for the newsletters and the offers. Can ye stop that?" is an objection or an opt-out,
    and surely no question about the privacy policy."""
    for wish in (NAMES_PEOPLE, LEAVE_ME_ALONE):
        if meaning.intent is not None and meaning.intent.value in wish:
            return sum(g.probability for g in meaning.guesses if g.label in wish)
    return meaning.confidence


class _Turn:
    """One caller line: understand it against the state, act, and phrase the reply."""

    def __init__(self, ctx: TurnContext, tools: ToolRegistry, text: str) -> None:
        self.ctx = ctx
        self.tools = tools
        self.raw = text
        self.text = normalize(text)
        self.state = ctx.state
        self.slots: dict[str, Any] = self.state.setdefault("slots", {})
        self.pending: str | None = self.state.get("pending")
        self.meaning = None
        self.question_read = False
        if self.text:
            plain = self.is_plain_answer()
            if not plain:
                embedder().encode(self.parts_to_read())  # one pass of the model for them all
            # a name given when asked for one is only that ("Tara Lindholm" says no "ta-ra")
            said = "" if plain and self.pending in ("name", "change_name") else text
            self.meaning = plain_answer(said) if plain else understand(text, answering=self.answering())
            unsaid_change = self.meaning.intent in (Intent.CANCEL, Intent.RESCHEDULE) and not ACTS.search(self.text)
            if not plain and (
                self.meaning.confidence < SURE_OF_REQUEST or self.meaning.intent is Intent.BOOK or unsaid_change
            ):
                self.meaning = self.read_the_question(self.meaning)
        self.intent = self.meaning.intent if self.meaning else None
        self.intents = self.meaning.intents if self.meaning else frozenset()
        self.today = ctx.local_now.date()
        if self.intent is Intent.HUMAN and self.pending is None and self.asks_about_someone():
            self.intent, self.intents = Intent.QUESTION, (self.intents - {Intent.HUMAN}) | {Intent.QUESTION}

    def answering(self) -> bool:
        """The line may be the answer to what the agent asked; after an offer ("anything else?",
        "shall I take a message?") a longer line is a request of its own, read as one."""
        return bool(self.pending) and not (self.pending in OFFERS and len(self.raw.split()) > SHORT_ANSWER_WORDS)

    def read_the_question(self, meaning: Meaning) -> Meaning:
        """A story that ends in a question ("I got my belly button done on Sunday and I've got
        Cancun next week. Am I gonna wreck it?") means what its question means: the story's
        words (a day, a service) are no request when the question itself is surely a question."""
        if meaning.intent in PRIVACY_TYPES or meaning.intent is Intent.OPT_OUT:
            return meaning  # "... its Jennifer Nguyen, 2 n's. can u fix it": the question asks for the request
        sentences = asked_sentences(self.raw[:500])
        asked = " ".join(sentences)
        if len(sentences) > 1 and self.all_questions(sentences):
            # "are you open on a Monday at all, and can I bring the dog in?": two questions
            self.question_read = True
            return replace(meaning, intent=Intent.QUESTION, intents=meaning.intents | {Intent.QUESTION})
        if asked == self.raw.strip() and meaning.intent in (None, Intent.BOOK, Intent.RESCHEDULE, Intent.CANCEL):
            # one long sentence whose last clause asks on its own, after words that sound like a
            # booking ("Luna's booked in to get spayed tomorrow and I forgot to ask, can she have
            # her breakfast before I bring her over?")
            asked = question_tail(self.raw[:500]) or asked
        if not asked or asked == self.raw.strip() or find_dates(asked, self.ctx.local_now) or parse_time(asked):
            return meaning  # "my dog needs a groom. anything Thursday?" asks for a booking
        question = understand(asked, answering=self.answering())
        if question.confidence < SURE_ENOUGH_TO_ASK:
            return meaning
        if (
            question.intent is Intent.HOURS
            and meaning.intent is not Intent.BOOK
            and not ACTS.search(self.text)
            and not RESTOCK.search(self.text)  # "... sold out, but when are you getting more in"
        ):
            # "I was going to pop in on Wednesday the 9th after my dinner. You'll be open then, won't
            # you?": the hours of the day the story names, not a change to an appointment
            self.question_read = True
            return replace(meaning, intent=Intent.HOURS, intents=meaning.intents | {Intent.HOURS})
        if question.intent is not Intent.QUESTION:
            return meaning
        if meaning.confidence >= SURE_OF_REQUEST and not self.answered_surely(asked):
            # "my lad's eyes are shattered by teatime. Do you sell those glasses for screens?": a
            # sure booking gives way to its question only where the shop surely answers it
            return meaning
        self.question_read = True  # the story's words (a day, a service) ask for no booking
        return replace(meaning, intent=Intent.QUESTION, intents=meaning.intents | {Intent.QUESTION})

    def answered_surely(self, question: str) -> bool:
        """The shop's knowledge answers ``question`` at least SURE_ANSWER sure."""
        found = self.tools.run(self.ctx, "search_knowledge", {"query": question})
        return bool(found.data.get("confidence", 0.0) >= SURE_ANSWER)

    def all_questions(self, sentences: list[str]) -> bool:
        """Each question of the line, read alone, surely asks about the shop (its hours or anything
        else), and one is not about the hours."""
        readings = [understand(s) for s in sentences[:MAX_ANSWERS]]
        sure = all(r.intent in (Intent.QUESTION, Intent.HOURS) and r.confidence >= SURE_ENOUGH_TO_ASK for r in readings)
        return sure and any(r.intent is Intent.QUESTION for r in readings)

    def parts_to_read(self) -> list[str]:
        """What the turn may give the model to read: the line as the classifier reads it, and
        the parts of it read apart, as the classifier and the knowledge search read them (each
        question of a line that asks more than one thing or asks inside a story, in
        ``knowledge``; what a line asks besides the hours, in ``faq_beside_hours``). Encoded
        together they cost little more than the line alone: the model's weights are read once."""
        line = self.raw[:500]
        asked = [s for s in asked_sentences(line) if s != line.strip()]
        besides_hours = [HOURS_WORDS.sub(" ", line)] if HOURS_WORDS.search(line) else []
        return list(dict.fromkeys([canonical(line), *map(canonical, asked), *asked, *besides_hours]))

    def is_plain_answer(self) -> bool:
        """Two words or three that are exactly what the pending question asked for: a time, a
        day, a yes or no, a name, an email address (``meaning.plain_answer``)."""
        if len(self.raw.split()) <= PLAIN_ANSWER_WORDS and "@" in self.raw and extract_email(self.raw):
            return True  # "manager@ballantyneridge.com" asks for no manager
        if len(self.text.split()) > PLAIN_ANSWER_WORDS:
            return False
        if self.pending == "time":
            return parse_time(self.raw, expect_time=True) is not None
        if self.pending in ("day", "change_day"):
            return parse_date(self.raw, self.ctx.local_now) is not None
        if self.pending == "confirm":
            return yes_no(self.raw) is not None
        if self.pending in ("name", "change_name"):
            return extract_name(self.raw, expect_name=True) is not None
        return False

    # -- flow ----------------------------------------------------------------------------------

    def run(self) -> Reply:
        if not self.text:
            return self.miss("I didn't catch that.")
        said = self.state.get("last_reply")
        if said and len(self.text.split()) <= REPEAT_WORDS and REPEAT.search(self.text):
            return Reply(str(said))  # the question still waits for its answer
        answered = self.state.pop("answered", None)
        if answered and self.pending == "anything_else" and self.says_again(answered):
            # the same question again, straight after its answer: the answer did not help, and
            # saying it twice would not either
            return self.offer_message("That's all I have on that, I'm afraid, so I'm not sure beyond it.")
        if self.pending == "confirm":
            # the request said again in its own words is a yes, whatever "no" it holds ("no like you
            # folks using my info for advertising...")
            answer = True if self.says_again(self.state.get("task_line")) else yes_no(self.raw)
            changes = self.intent in (Intent.CANCEL, Intent.RESCHEDULE)
            if answer and changes and self.state.get("task") not in ("cancel", "reschedule"):
                # "yeah cancel it" to "Shall I book ...?" or "Shall I submit it?": the change, not a yes to that
                return self.start_change(str(self.intent))
            if answer is not None or self.restates_task():
                return self.declined() if answer is False else self.confirmed()
            if len(self.raw.split()) <= PLAIN_ANSWER_WORDS and extract_phone(self.raw, self.ctx.shop.region):
                # a number where yes or no was asked ("Shall I book a Free Phone Consultation...?"
                # heard as a question about the phone): asked again, in fewer words
                self.state["question"] = "Shall I go ahead with that?"
                return self.miss("Sorry, I didn't get that.")
        if looks_like_injection(self.raw):  # before anything it asks for: a person, an answer
            return self.reply(
                "I can't share that: other customers' details stay private. I can help with your own "
                "appointments and orders, and questions about the shop."
            )
        answered = self.answer_if_asked()
        if answered is not None:
            return answered
        interrupt = self.interrupt()
        if interrupt is not None:
            return interrupt
        if self.pending:
            answered = self.answer_pending()
            if answered is not None:
                return answered
        started = self.start_task()
        if started is not None:
            return started
        return self.fallback()

    def interrupt(self) -> Reply | None:
        """Requests that win over whatever the conversation was doing."""
        if ASKS_IF_BOT.search(self.text):
            return self.disclose()
        asks_for_someone = Intent.HUMAN in self.intents and self.intent in (Intent.HUMAN, Intent.QUESTION, None)
        if self.intent is None and self.probability(Intent.HUMAN) < SURE_ENOUGH_TO_ASK and not self.named_staff():
            asks_for_someone = False  # a line not understood is no request for a person on a weak guess
        leaves_word = bool(LEAVE_A_MESSAGE.search(self.text))
        if self.matching_workflow() is not None and self.pending is None:
            asks_for_someone = False  # the merchant's own trigger words ("trade in my bike") win ...
            if self.intent is Intent.MESSAGE and not leaves_word:
                self.intent = None  # ... over a message nobody said ("put us on the waitlist with Marisol")
        if self.tells_staff():
            self.intent = Intent.MESSAGE  # whatever the words for them are about: a booking, a cancellation
        if self.intent is Intent.MESSAGE and not leaves_word and self.sends_someone():
            self.intent = Intent.BOOK  # "can you send someone to check me inverter on Cup Day?": a visit
        if self.intent is Intent.SUPPORT and leaves_word:
            # "you're closed it seems. Please take a message, my RO is showing red light": the
            # caller asks for a message (which reaches the team as a ticket with their words)
            self.intent = Intent.MESSAGE
        if self.intent is Intent.MESSAGE or (
            asks_for_someone and not (self.pending is None and self.books_with_someone())
        ):
            return self.reach_a_person()
        if (
            self.intent is None
            and self.pending is None
            and self.matching_workflow() is None
            and self.wants_someone()
            and not self.sounds_like_booking()
            and self.named_staff()
        ):
            return self.reach_a_person()  # "could I have a quick word with Hannah": unsure, but she is staff
        if self.intent is Intent.OPT_OUT and self.asks_for_a_slot():
            # "cn i get a sweedish msg fri @ 6": a service at a time asks for a visit; an opt-out
            # cannot be taken back, so a line that also asks for a slot is that booking
            self.intent = Intent.BOOK
        unsure_fault = (
            self.intent is Intent.SUPPORT and self.meaning is not None and sureness(self.meaning) < SURE_OF_REQUEST
        )
        if unsure_fault and self.probability(Intent.BOOK) >= MAY_BE_ABOUT and self.asks_for_a_slot():
            # "my pump's making this grinding noise. Can Chuy come look at it tomorrow at nine?": the
            # fault is why, and the visit at a time what the caller asks for
            self.intent = Intent.BOOK
        if (
            self.intent is Intent.OPT_OUT
            and self.probability(Intent.PRIVACY_ERASURE) >= MAY_BE_ABOUT
            and DATA_ABOUT_ME.search(self.text)
        ):
            # "get rid o' aw ma details, name, number, email, the lot": the data gone, which stops the
            # contact too, is the larger wish when the classifier hears both
            self.intent = Intent.PRIVACY_ERASURE
        if self.intent is Intent.OPT_OUT:
            self.reset()
            result = self.tools.run(self.ctx, "opt_out", {})
            return Reply(result.text + " Goodbye.", (Action(ActionKind.HANG_UP),))
        unsure = self.meaning is not None and self.meaning.confidence < SURE_ENOUGH_TO_ASK
        if (
            self.intent in PRIVACY_TYPES
            and self.pending is None
            and (unsure or self.matching_workflow())
            and not DATA_ABOUT_ME.search(self.text)
        ):
            # "we're after a master key system, everyone's got a different key" (the merchant's
            # trigger words), "someone to tell us what it's worth" (a weak guess): with no word of
            # the caller's data, no privacy request
            self.intent = None
        if self.intent in PRIVACY_TYPES and not (self.pending and self.restates_task()):
            return self.start_privacy(PRIVACY_TYPES[self.intent])
        thanks_at_the_end = self.intent is Intent.PRAISE and self.pending == "anything_else"
        no_more = self.pending == "anything_else" and self.says_no_more()
        if self.intent is Intent.GOODBYE or thanks_at_the_end or no_more:
            return self.goodbye()
        return None

    def disclose(self) -> Reply:
        """Asked whether it is a person, the agent says it is not, and offers one: put through when
        the caller asks for one as well (or a message taken when nobody can answer)."""
        shop = self.ctx.shop
        said = f"I'm {shop.agent_name}, the AI assistant at {shop.name}, not a person."
        if DEMANDS_PERSON.search(self.text):
            reached = self.reach_a_person()
            return Reply(f"{said} {reached.text}", reached.actions)
        if self.pending not in (None, "anything_else"):  # the question it asked still waits
            return Reply(f"{said} {self.state.get('last_reply', '')}".strip())
        offer = "I can help with appointments, orders and questions, or put you through to someone on the team."
        return self.ask(f"{said} {offer}", "anything_else")

    def asks_about_someone(self) -> bool:
        """A line the classifier is unsure asks for a person, that asks what a staff member is ("is
        Rachel a Resolution member?") or whether someone is there to do a thing ("is there anyone to
        mind him while we talk?"): a question for the shop's knowledge, not a transfer."""
        if self.meaning is None or sureness(self.meaning) >= SURE_OF_REQUEST:
            return False
        if ANYONE_TO.search(self.text):
            return True
        staff = self.named_staff()
        names = [w for w in re.findall(r"[a-z]+", (staff or "").lower()) if w not in TITLES and len(w) > 1]
        return any(re.search(rf"\bis {name} {IS_SOMETHING}", self.text) for name in names)

    def sends_someone(self) -> bool:
        """A line the classifier splits between a message and a person, unsure, that asks the shop
        to send someone out for one of its services: a visit."""
        if self.meaning is None or sureness(self.meaning) >= SURE_OF_REQUEST or self.pending is not None:
            return False
        return bool(SEND_SOMEONE.search(self.text)) and self.service_wanted() is not None

    def books_with_someone(self) -> bool:
        """A request for a person that is a booking with them: "is Rosa in? can I set up my yearly
        check with her", not "is Marisol around today? I need to talk to her about the coating she
        put on my truck last month" (a talk with someone is no booking unless it asks for one)."""
        if TALK_TO.search(self.text):
            return bool(BOOKING_WORDS.search(self.text)) and self.sounds_like_booking(told_of=False)
        return self.sounds_like_booking()

    def wants_someone(self) -> bool:
        """Reaching a person (to talk to, or to leave word with) is the classifier's best reading
        of the line, its two ways counted together."""
        if self.meaning is None:
            return False
        people = sum(g.probability for g in self.meaning.guesses if g.label in NAMES_PEOPLE)
        return people >= max(g.probability for g in self.meaning.guesses if g.label not in NAMES_PEOPLE)

    def restates_task(self) -> bool:
        """Asked to confirm, the caller says again what they asked for ("I just want my details
        deleted"): that is a yes to doing it, not a new request to start over. A day or a time in
        a line about an appointment changes the request instead."""
        task = self.state.get("task")
        if self.meaning is None or task is None:
            return False
        if self.says_again(self.state.get("task_line")):
            return True  # the request again, in (nearly) the same words
        # while answering, a line keeps its intent only when the classifier is sure; its best
        # guess is enough to recognise the request the caller already made
        best = self.meaning.guesses[0].label
        said = next((i for i in Intent if i.value == best), None) or self.intent
        if task == "privacy":
            return said in PRIVACY_TYPES and PRIVACY_TYPES[said] == self.slots.get("type")
        if task in ("book", "reschedule", "cancel") and self.gives_details():
            return False
        return said is not None and TASK_INTENTS.get(task) is said

    def says_again(self, earlier: str | None) -> bool:
        """This line means what ``earlier`` meant, in nearly the same words (cosine of the two)."""
        if not earlier or len(self.text.split()) <= PLAIN_ANSWER_WORDS:
            return False
        now, before = embedder().encode([canonical(self.raw[:500]), canonical(earlier)])  # unit vectors
        return float(now @ before) >= SAYS_AGAIN

    def answer_if_asked(self) -> Reply | None:
        """A question the shop's own knowledge answers is answered, not acted on.

        "What happens if I cancel the morning of?" mentions cancelling and "how much is the
        Halden three seater" sounds like nothing the classifier knows, but both are questions
        the shop file answers. A line shaped like a question goes to the knowledge first,
        unless it asks about the hours, or it is a likely request that carries what the request
        needs (a day, a time, an order number: "can I book a tune-up tuesday at 10"), or the
        classifier is sure it is a request. A booking request that names a service is a booking,
        not a question about the service.
        """
        if self.pending not in (None, "anything_else") or not asks_question(self.raw) or self.names_an_order():
            return None
        if self.matching_workflow() is not None:  # the merchant's own trigger words win
            return None
        if self.cancels_own_appointment:
            return None  # cancelled, with what it costs said first (cancel_terms_asked)
        works = self.staff_days_asked()
        if works is not None:
            return self.run_done(works)
        meaning, intent = self.meaning, self.intent
        if CHARGED_WRONG.search(self.text) and intent not in (Intent.HUMAN, Intent.MESSAGE):
            self.intent = Intent.SUPPORT  # a ticket holding the caller's words (unless a person is asked for)
            return None
        if meaning is None:
            return None
        asks_price = bool(ASKS_PRICE.search(expand_shorthand(self.raw)))  # asked before anything is booked
        # "what happens if I cancel the morning of", "I might roll in about fifteen minutes late, that
        # cool?": the policy, unless the caller asks to move for it ("running late, can you push me back")
        what_if = self.supposes or bool(LATE.search(self.text) and not CHANGES.search(self.text))
        if intent in (None, Intent.QUESTION, Intent.HOURS) and not (asks_price or what_if) and self.asks_for_a_slot():
            return None  # "is Kasia in this Saturday? could she do his full groom at nine": a booking
        if intent is Intent.HOURS and self.probability(Intent.BOOK) >= MAY_BE_ABOUT and self.books_a_day():
            return None  # "can we come for open play Tuesday, after the long weekend?": a booking
        if intent is Intent.HOURS and not (what_if and not HOURS_WORDS.search(self.text)):
            # "I'll be a quarter of an hour late for my twelve o'clock. Will youse still see me?" asks
            # the policy on lateness, not the hours; "can I drop the car off tonight before you
            # open?" is answered by the shop's FAQ on dropping off after hours, if it has one, not
            # by the hours: what the line asks besides the hours is searched; a line of two
            # questions, one about the hours ("are you open late any night, and can I rent an
            # e-bike?"), gets both answers
            asked = asked_sentences(self.raw[:500])
            readings = {s: self.hours_asked(s) for s in asked} if len(asked) > 1 else {}
            hours = next((found for found in readings.values() if found), None)
            rest = " ".join(s for s, found in readings.items() if not found) if hours else self.raw[:500]
            if says_only(self.beside_hours(rest), frozenset()):
                return None  # every question is about the hours: answered from the hours, day by day
            found = (self.price_asked(rest) if hours else None) or self.faq_beside_hours(rest)
            if hours and found is None:  # the other question alone finds nothing: the whole line, as one
                hours, found = None, self.faq_beside_hours(self.raw[:500])
            if found is None:
                return None
            hours = hours or self.closure_named()  # "are you working Friday the 27th?" of a closed day
            return self.run_done(replace(found, text=f"{hours.text} {found.text}") if hours else found)
        if intent in (Intent.HUMAN, Intent.MESSAGE) and self.named_staff():
            return None  # "is Kenji around? I need to ask him about the fabric": for Kenji, not the catalogue
        # ... unless it asks for a visit: "can I bring my car in for an oil change on Monday?"
        asks_leave = bool(ASKS_LEAVE.search(expand_shorthand(self.raw))) and not (
            self.asks_for_a_slot() or (self.days_said() and self.service_wanted(typos=False))
        )
        request = intent in REQUESTS and not asks_price and not what_if and not asks_leave
        if asks_leave and self.brings_unheard_of():
            return self.offer_message("I'm not sure about that one.")
        # an order is looked up by its number: a day in the line ("coming over Thursday") is not one
        details = extract_order_number(self.raw) if intent is Intent.ORDER_STATUS else self.gives_details()
        # "my chrome powder order how already?": the caller's own order, looked up, not the shipping policy
        details = details or (intent is Intent.ORDER_STATUS and bool(OWN_ORDER.search(self.text)))
        acts = request and (sureness(meaning) >= SURE_OF_REQUEST or details) and not self.asks_beyond_services()
        if acts and not self.asks_restock():
            return None
        one_question = len(asked_sentences(self.raw[:500])) <= 1  # of two, the knowledge answers both
        # "what would it cost me if I bailed on tomorrow's boardroom?" asks what the policy costs
        priced = self.price_of_named_service() if asks_price and one_question and not what_if else None
        if priced is not None:
            return priced
        result = self.sold_out_asked or self.knowledge
        if what_if and result.data.get("kind") in ("service", "product"):
            # "if I need to move my tune-up, do y'all charge for that?": the policy, not the price
            result = self.knowledge_of_the_request() or result
        data = result.data
        if not data.get("found"):
            # "would ye hire out the gallery for a private party, and how much would that be?": a
            # price the shop has none for, of nothing it surely sells (a "Private Gallery Viewing"
            # by two of its words), is no booking of that: the team is asked
            unpriced = asks_price and sureness(meaning) < SURE_OF_REQUEST and not self.service_wanted(whole=True)
            return self.answer_question(asked=True) if what_if or unpriced or asks_leave else None
        if asks_price:
            # "how much stay for da hoe new tour, da one with da turtles": an answer with no figure in
            # it, where a word of one service's name is said, is that service's price
            named = self.service_wanted(typos=False) if not (what_if or MONEY.search(result.text)) else None
            return self.run_done((self.priced(named) if named else None) or result)
        if data.get("kind") == "service" and BUYS.search(self.text):
            # "do y'all have like a titanium one I can just buy off you": a thing to buy, answered from
            # the product or from the service's own entry (which says what it sells), not booked
            bought = self.tools.run(
                self.ctx, "search_knowledge", {"query": canonical(self.raw[:500]), "kind": "product"}
            )
            return self.run_done(bought if bought.data.get("confidence", 0.0) >= ALSO_ANSWER else result)
        if data.get("kind") == "service" and (intent is Intent.BOOK or self.sounds_like_booking()) and not asks_leave:
            return None  # "I'd like to set up another bike fitting": a booking, not what a fitting is
        if data.get("kind") == "product" and intent is Intent.ORDER_STATUS and OWN_ORDER.search(self.text):
            return None  # "did my creatine ever get dropped off?": the caller's order of it, not the product
        if data.get("confidence", 1.0) < SURE_ANSWER and not (what_if or asks_leave) and self.sounds_like_booking():
            return None  # "can I bring him in for his rabies shot?": a booking, unless the shop's answer is plain
        return self.run_done(result)

    def brings_unheard_of(self) -> bool:
        """Asked whether they may bring something the shop's knowledge never speaks of (a dog, at an
        upholsterer's): nothing the shop wrote says yes or no."""
        brought = BRINGS.search(self.text)
        if brought is None:
            return False
        found = self.tools.run(self.ctx, "search_knowledge", {"query": brought.group(1)})
        return not found.data.get("found")

    def books_a_day(self) -> bool:
        """The line names one of the shop's services whole, and a day."""
        return bool(self.days_said()) and self.service_wanted(typos=False, whole=True) is not None

    def staff_days_asked(self) -> ToolResult | None:
        """When a staff member the line names works, from their hours ("what days is Dr. Tremblay
        in? I'd like to keep seeing the same vet", "does Sam work Saturdays?"), unless the line asks
        for a booking with them or a word with them."""
        if not WORKS_WHEN.search(self.text) or TALK_TO.search(self.text) or self.asks_for_a_slot():
            return None
        if BOOKING_WORDS.search(self.text) or (self.sounds_like_booking() and WANTS.search(self.text)):
            return None  # "... I'd like to set up another bike fitting with her": a booking with them
        staff = self.named_staff()
        if staff is None:
            return None
        weekdays, days = self.days_asked_about(self.raw)
        asked = {"weekday": weekdays[0]} if weekdays else {"date": days[0].isoformat()} if days else {}
        return self.tools.run(self.ctx, "get_hours", {"staff": staff, **asked})

    def price_of_named_service(self) -> Reply | None:
        """The price of the service a line names whole ("before I book anything, roughly what would
        a tune-up run me? just want a ballpark"; "can't have kittens" names no "kitten visit"), or of
        the one its question names beside another named in the story ("I was in for an oil change
        and the guy said my AC was low. How much do you charge to recharge it?")."""
        service = self.service_wanted(whole=True)
        if service is None:
            return None
        asked = asked_sentences(self.raw[:500])
        in_question = match_option(asked[0], self.ctx.shop.service_options(), typos=False) if asked else None
        priced = self.priced(in_question or service)
        return self.run_done(priced) if priced is not None else None

    def asks_restock(self) -> bool:
        """ "when will the Volt be back in stock": after a sold-out product, not an order."""
        return self.sold_out_asked is not None

    @functools.cached_property
    def sold_out_asked(self) -> ToolResult | None:
        """The sold-out product a restock question asks after: the knowledge's answer, or the
        product the line names when the rest of its words make the answer unsure ("your foam
        cannon's been showing sold out for like ever, when are you getting more in?")."""
        if not RESTOCK.search(self.text) or extract_order_number(self.raw):
            return None
        if self.knowledge.data.get("in_stock") is False:
            return self.knowledge
        named = self.tools.run(self.ctx, "search_knowledge", {"query": canonical(self.raw[:500]), "kind": "product"})
        return named if named.data.get("in_stock") is False else None

    def asks_beyond_services(self) -> bool:
        """A "booking" that names none of the shop's services, which the shop's knowledge answers
        surely ("could my brother rent a bike next week?" where rentals are an FAQ): a question."""
        if self.intent is not Intent.BOOK or match_option(self.raw, self.ctx.shop.service_options()):
            return False
        return bool(self.knowledge.data.get("confidence", 0.0) >= SURE_ANSWER)

    @functools.cached_property
    def knowledge(self) -> ToolResult:
        """The shop's knowledge searched for this line (once a turn, whoever asks first). Each
        sentence that asks something is searched too: a question inside a story ("not even worn
        them but they just don't suit my face. can I get my money back?") is answered when the
        question alone finds an answer surely, and a line that asks two things in two sentences
        ("do you see rabbits? and is there anywhere to park") gets both answers."""
        # the form the classifier read, so the model encodes the line once for both
        whole = self.tools.run(self.ctx, "search_knowledge", {"query": canonical(self.raw[:500])})
        first, answers, titles = whole, [], set()
        if whole.data.get("found"):
            answers.append(whole.text)
            titles.add(whole.data.get("title"))
        asked = asked_sentences(self.raw[:500])
        # "we're kitting out the garden, raised beds, trees. is there a way to pay it off bit by bit":
        # what the story names (the tree planting) gives way to what its one question finds
        # ... unless the question names it too ("when will ye have the size 13 batteries back? the orange ones")
        title = str(whole.data.get("title") or "")
        named_in_story = (
            len(asked) == 1
            and whole.data.get("kind") in ("service", "product")
            and not match_option(asked[0], {title: self.ctx.shop.service_options().get(title, [title])}, typos=False)
        )
        # an FAQ entry or policy that answers the whole line beyond doubt stays, whatever price a part asks
        beyond_doubt = whole.data.get("kind") in ("faq", "policy") and whole.data.get("confidence", 0.0) >= BEYOND_DOUBT
        own_answers = 0  # the questions of the line that found an answer of their own
        confirmed = False
        for sentence in asked[:MAX_ANSWERS]:
            if sentence == self.raw.strip() or says_only(sentence, VAGUE_TERMS):
                continue  # a line that is one question was just searched whole; "and how much is it" with it
            # the price of a service the question names, where the whole line found something else than
            # a product ("how much is the wheel class, and what time are yous open till on a Thursday?" is no
            # question about a Wheel Practice Hour; "are ye open Mondays? and how much is one o' they
            # HydraFacials?" none about the HydraFacial's aftercare)
            priced = self.price_asked(sentence) if whole.data.get("kind") != "product" else None
            more = self.hours_asked(sentence) or priced or self.search_either(sentence)
            sure = more.data.get("confidence", 0.0) >= ALSO_ANSWER
            if sure and more.data.get("title") == whole.data.get("title") and whole.text in answers:
                confirmed = True  # a question of the line finds what the whole line found: it stays
            elif sure and more.data.get("title") not in titles:
                # the question alone answers it, unless another question confirmed the whole line's
                if (not answers or named_in_story or (priced is not None and not beyond_doubt)) and not confirmed:
                    answers = [answer for answer in answers if answer != whole.text]  # not the whole line
                    titles.discard(whole.data.get("title"))  # ... unless another question finds it again
                    first = more if first is whole or not answers else first
                answers.append(more.text)
                titles.add(more.data.get("title"))
                own_answers += 1
        tail = question_tail(self.raw[:500]) if not answers else None
        if tail:
            found = self.tools.run(self.ctx, "search_knowledge", {"query": tail})
            if found.data.get("confidence", 0.0) >= ALSO_ANSWER:
                return found
        closed = self.closure_named() if "hours" not in titles else None
        if not answers:
            return closed or self.knowledge_of_the_request() or whole
        said = [closed.text] if closed else []
        # "two quick ones: are you open on a Monday at all, and can I bring the dog in?": when each
        # question found its own answer, the whole line's may still be the one, so all are said
        most = MAX_ANSWERS + (own_answers >= MAX_ANSWERS)
        return ToolResult(" ".join([*said, *answers[:most]]), first.data, outcome=first.outcome)

    def closure_named(self) -> ToolResult | None:
        """A date the line names that the shop file closes (a holiday, a gala): said before any
        answer ("is it lessons as normal this Saturday?")."""
        closures = self.ctx.shop.schedule.calendar.closures
        days = [match.day for match in find_dates(self.raw[:500], self.ctx.local_now) if match.day in closures]
        if not days:
            return None
        closed = self.tools.run(self.ctx, "get_hours", {"date": days[0].isoformat()})
        return replace(closed, data=dict(HOURS_FOUND))

    def hours_instead(self) -> ToolResult | None:
        """For a question the shop's knowledge has no answer for, the hours of the day it names,
        where the shop is closed that day ("you folks going out on Kamehameha Day?") or the line asks
        at what time, maybe of the hours ("what time do you knock off on a Saturdee?")."""
        closed = self.closure_named()
        if closed is not None or not (WHEN_ASKED.search(self.text) and self.probability(Intent.HOURS) >= MAY_BE_ABOUT):
            return closed
        weekdays, days = self.days_asked_about(self.raw[:500])
        if not (weekdays or days):
            return None
        return self.hours_answer(weekdays, days)

    def price_asked(self, sentence: str) -> ToolResult | None:
        """The price of the service a question of the line names ("how much is the beginners wheel
        class"), from the service's own entry."""
        if not ASKS_PRICE.search(expand_shorthand(sentence)) or WHAT_IF.search(normalize(sentence)):
            return None  # "what would it cost me if I bailed on tomorrow's boardroom?" asks the policy
        services = self.ctx.shop.service_options()
        # a word of one service's name, in a short price question of a line that asks two ("wots the
        # warranty on panels n how much 4 a clean"): that service
        short = len(sentence.split()) <= SHORT_PRICE_QUESTION
        service = match_option(sentence, services, typos=False, whole=not short)
        return self.priced(service) if service else None

    def priced(self, service: str) -> ToolResult | None:
        """The service's own entry, which gives its price."""
        found = self.tools.run(self.ctx, "search_knowledge", {"query": f"{service} price"})
        return found if found.data.get("title") == service else None

    def search_either(self, sentence: str) -> ToolResult:
        """The knowledge's answer to a sentence as said or, when that finds none, as the classifier
        reads it ("d'ye take card" is "do you take card"); the model encoded both forms already."""
        said = self.tools.run(self.ctx, "search_knowledge", {"query": sentence})
        if said.data.get("confidence", 0.0) >= ALSO_ANSWER:
            return said
        return self.tools.run(self.ctx, "search_knowledge", {"query": canonical(sentence)})

    def beside_hours(self, text: str) -> str:
        """What ``text`` says besides the hours and the days it asks them for ("what time y'all close
        this Saturday?" says nothing besides)."""
        rest = normalize(HOURS_WORDS.sub(" ", WHEN_ASKED.sub(" ", text)))
        for match in find_dates(rest, self.ctx.local_now):
            rest = rest.replace(match.text, " ")
        return rest

    def faq_beside_hours(self, text: str) -> ToolResult | None:
        """The FAQ entry or policy that surely answers what ``text`` asks besides the hours, if one
        does ("I'll be a good twenty minutes late for my twelve o'clock, is that still alright?")."""
        found = self.tools.run(self.ctx, "search_knowledge", {"query": HOURS_WORDS.sub(" ", text)})
        sure = found.data.get("confidence", 0.0) >= SURE_ANSWER and found.data.get("kind") in ("faq", "policy")
        return found if sure else None

    def hours_asked(self, sentence: str) -> ToolResult | None:
        """The hours, for a question of a line that surely asks about them: from the shop's hours
        (for the days it names, or the week), not from an FAQ entry that mentions a time. A
        question that names neither a day nor the hours and that the shop's knowledge surely
        answers ("where's the kids' end of year concert on") is not about the hours."""
        reading = understand(sentence)
        if reading.intent is not Intent.HOURS or reading.confidence < SURE_ENOUGH_TO_ASK:
            return None
        weekdays, days = self.days_asked_about(sentence)
        if not (weekdays or days) and not HOURS_WORDS.search(sentence) and self.answered_surely(sentence):
            return None
        return self.hours_answer(weekdays, days)

    def days_asked_about(self, sentence: str) -> tuple[list[str], list[date]]:
        """The days of the week ``sentence`` names in general ("are you open on a Monday at all",
        "do you do Sundays"), and the dates it names besides."""
        weekdays = list(dict.fromkeys(day for pair in ANY_WEEKDAY.findall(normalize(sentence)) for day in pair if day))
        general = {f"{prefix}{day}{plural}" for day in weekdays for prefix in ("", "a ") for plural in ("", "s")}
        dates = find_dates(sentence, self.ctx.local_now)
        return weekdays, list(dict.fromkeys(m.day for m in dates if m.text.removeprefix("on ") not in general))

    def hours_answer(self, weekdays: list[str], days: list[date]) -> ToolResult:
        """The hours of the days named, as an answer found."""
        return ToolResult(self.said_hours(weekdays, days), dict(HOURS_FOUND), outcome="knowledge")

    def said_hours(self, weekdays: list[str], days: list[date]) -> str:
        """The hours of the days of the week and the dates named, or else the week's."""
        said = [self.tools.run(self.ctx, "get_hours", {"weekday": day}).text for day in weekdays[:4]]
        said += [self.tools.run(self.ctx, "get_hours", {"date": day.isoformat()}).text for day in days[:4]]
        return " ".join(said) if said else self.tools.run(self.ctx, "get_hours", {}).text

    def knowledge_of_the_request(self) -> ToolResult | None:
        """A question whose words find nothing, searched again with the words a shop writes about
        what it sounds like ("what happens if I only let you know that morning" sounds like a
        cancellation, and the shop's answer is its cancellations policy)."""
        if self.meaning is None or not asks_question(self.raw):
            return None
        guesses = list(self.meaning.guesses[:3])
        condition = CONDITION.search(self.raw[:500]) if self.supposes else None
        if condition:
            # "what happens if I don't make it to my overhaul and don't tell you": the question is
            # sure, and what it supposes ("I don't make it ...") is what it is about
            guesses += understand(condition.group(1)).guesses[:3]
        labels = [g.label for g in guesses if g.label in TOPICS and g.probability >= MAY_BE_ABOUT]
        if condition and CANCEL_WORDS.search(plain_verbs(self.text)):
            labels.append("cancel")  # "I'm not cancelling mind you, I just want to know what it would cost me if I did"
        topics = list(dict.fromkeys(TOPICS[label] for label in labels))
        if not topics:
            return None
        query = f"{canonical(self.raw[:500])} {' '.join(topics)}"
        found = self.tools.run(self.ctx, "search_knowledge", {"query": query})
        if not found.data.get("found") and self.supposes:
            # a long what-if ("how late can I change the time on me service next Tuesday without
            # copping a fee?") whose other words drown the topic: the topic's policy alone
            found = self.tools.run(self.ctx, "search_knowledge", {"query": " ".join(topics)})
        return found if found.data.get("found") else None

    def unsure_question(self) -> bool:
        """Shaped like a question, with nothing a request acts on, and no sure request."""
        sure = self.meaning is not None and self.meaning.confidence >= SURE_ENOUGH_TO_ASK
        return asks_question(self.raw) and not sure and not self.gives_details()

    def names_an_order(self) -> bool:
        """ "order fifty five oh one": an order number said with the word order."""
        return bool(re.search(r"\b(order|ordered|ord)\b", self.text) and extract_order_number(self.raw))

    def gives_details(self) -> bool:
        """The line carries a day, a time or an order number: what a request acts on."""
        return bool(self.dates_wanted or parse_time(self.raw) or extract_order_number(self.raw))

    @functools.cached_property
    def supposes(self) -> bool:
        """The line asks what would happen if ("do you charge if I move it", "not cancelling, but")."""
        return bool(WHAT_IF.search(self.text))

    @functools.cached_property
    def dates_wanted(self) -> list[DateMatch]:
        """The dates the caller names for what they want, not for what already happened ("I got
        my belly button done on Sunday", "you replaced the valve back in June")."""
        found: list[DateMatch] = []
        taken_back = False  # "Thursday at six, actually no wait, scratch that, make it tomorrow": the day said last
        for clause in self.wanted_clauses:
            taken_back = taken_back or (bool(found) and takes_back(clause))
            dates = find_dates(clause, self.ctx.local_now)
            said = normalize(clause)
            if dates and NO_GOOD.search(said) and not said.startswith("if "):  # "Saturday's no good": not that day
                found, taken_back = [d for d in found if d.day not in {r.day for r in dates}], False
                continue
            if dates and taken_back:
                found, taken_back = found[:-1], False
            found += dates
        return next_against_this(found)

    @functools.cached_property
    def wanted_clauses(self) -> list[str]:
        """The clauses of the line that do not tell of the past."""
        return [c for c in PAST_BREAKS.split(self.raw[:500]) if c.strip() and not PAST.search(normalize(c))]

    def service_wanted(self, *, told_of: bool = True, **how: bool) -> str | None:
        """The service the line asks for: named where it asks, after a story ("my boy's keen on
        guitar, could he have a go first, like a trial"), or where it does not tell of the past ("I
        got the windshield done elsewhere and now my lane camera needs recalibrating"); else,
        unless ``told_of`` is False, one the past tells of."""
        services, lengths = self.ctx.shop.service_options(), self.ctx.shop.service_lengths
        if lengths and (named := match_option(self.raw, lengths, typos=False, whole=True)):
            return named  # "one of your hour and a half lessons": of two lessons, the 90-minute one
        # not a service asked for besides the story's: "my dog needs a bath and brush, can you also
        # do his nails" is for the bath and brush
        part = asking_part(self.raw)
        asked = match_option(part, services, **how) if part and not ADDED.search(normalize(part)) else None
        if asked:
            return asked
        # the line without its clauses of the past, joined as said: "my cut and beard" stays one service
        pieces = re.split(f"({PAST_BREAKS.pattern})", self.raw[:500], flags=PAST_BREAKS.flags)
        wanted = "".join(p for p in pieces if not PAST.search(normalize(p))).strip()
        found = match_option(wanted, services, **how) if wanted else None
        return found or (match_option(self.raw, services, **how) if told_of else None)

    def reach_a_person(self) -> Reply:
        """A transfer while someone can answer (to the handoff number, saying whom the caller
        asked for), otherwise, or when the caller asked to leave one, a message."""
        staff = self.named_staff()
        shop = self.ctx.shop
        if self.intent is Intent.MESSAGE or not (shop.handoff_number and shop.is_open(self.ctx.now)):
            if self.intent is not Intent.MESSAGE and not shop.is_open(self.ctx.now):
                self.state["asked_for_person"] = True  # the business hears of the message as such
            return self.start_message(for_whom=staff)
        reason = f"Caller asked for {staff}" if staff else "Caller asked for a person"
        return self.run_tool("transfer_call", {"reason": reason}, end_on_action=True)

    def tells_staff(self) -> bool:
        """The line opens by asking to tell a staff member something (TELL_SOMEONE), while nothing
        else is asked of the caller."""
        told = TELL_SOMEONE.search(self.text) if self.pending in (None, "anything_else") else None
        staff = self.named_staff() if told else None
        return staff is not None and told is not None and told.group(1) in staff.lower().split()

    def named_staff(self) -> str | None:
        """The staff member the caller named ("could I talk to Sam", "in with doctor Trembly" for
        Dr. Marc Tremblay), if any: a word of their name other than a title, said whole, or a
        longer one a typo away (speech-to-text spells names its own way)."""
        options = self.ctx.shop.staff_options()
        staff = match_option(self.raw, options) if options else None
        if staff is None:
            return None
        words = [w for w in re.findall(r"[a-z]+", staff.lower()) if w not in TITLES and len(w) > 1]
        said = set(re.findall(r"[a-z]+", self.text))
        typo_close = any(match_option(self.raw, {w: []}) for w in words if len(w) >= 5)
        return staff if said.intersection(words) or typo_close else None

    def says_no_more(self) -> bool:
        """ "no thanks", "that's all": not a longer line with a no inside it ("is your designer in
        tomorrow? I cannae get away till half five"), which asks for something more."""
        words = self.raw.split()
        opening = " ".join(words[:4]) if len(words) > SHORT_NO else self.raw
        # "... if it's no trouble at all, whether I might come back tomorrow": a no deep in a long line is none
        return yes_no(opening) is False or bool(NO_MORE.search(normalize(" ".join(words[: 2 * SHORT_NO]))))

    def start_task(self) -> Reply | None:
        workflow = self.matching_workflow()
        if workflow is not None:
            return self.start_workflow(workflow)
        intent = self.intent
        if intent is Intent.PRAISE:
            # a call to say thank you asks for nothing: the thanks is heard, and the transcript keeps it
            return self.reply("Thank you, that's lovely to hear! I'm so glad you're happy.")
        maybe_move = intent in (Intent.BOOK, Intent.QUESTION, None)
        if (
            intent is Intent.RESCHEDULE
            or (maybe_move and (self.sounds_like_move() or self.moves_a_booking()))
            or self.asks_another_time()
        ):
            return self.start_change("reschedule")
        if intent is Intent.CANCEL and self.books_unheard_cancel():
            intent = Intent.BOOK
        if intent in (Intent.BOOK, Intent.QUESTION, Intent.SUPPORT, None) and self.cancels_own_appointment:
            intent = Intent.CANCEL  # "I gotta cancel my level test on Thursday, something came up at work"
        if intent is Intent.CANCEL and self.moves_unheard_cancel():
            return self.start_change("reschedule")
        if intent is Intent.CANCEL and self.asks_unheard_cancel():
            intent = Intent.QUESTION
        if intent is Intent.BOOK and self.complains_of_work_done():
            return self.start_support()
        # "I've the new aids ordered and I want them fitted Saturday": no order number, a service and a day
        unnumbered_order = intent is Intent.ORDER_STATUS and not extract_order_number(self.raw)
        might_book = (
            intent in (Intent.QUESTION, Intent.HOURS, Intent.HUMAN, None) or unnumbered_order
        ) and not self.question_read
        if intent is Intent.HOURS and self.meaning and self.meaning.confidence >= SURE_OF_REQUEST:
            # "what time do y'all lock up on a Sunday?": surely the hours, not a "Lockout" a typo away
            might_book = might_book and self.service_wanted(typos=False, whole=True) is not None
        if intent is Intent.BOOK or (might_book and self.sounds_like_booking()):
            return self.start_booking()
        if intent is Intent.CANCEL:
            # "I've a scale and polish booked Friday and need to shift it to Saturday": a move
            moves = self.sounds_like_move() and len(self.days_said()) >= 2
            return self.start_change("reschedule" if moves else "cancel")
        asks_about_order = self.names_an_order() and (intent in (Intent.QUESTION, None) or asks_question(self.raw))
        if intent is Intent.ORDER_STATUS or asks_about_order:
            return self.start_order()
        if intent is Intent.SUPPORT and self.names_an_order() and NOT_ARRIVED.search(self.text):
            return self.start_order()  # "I never got my E-City, the order was 4420": where it is, first
        if intent is Intent.SUPPORT and STATUS_CHECK.search(self.text):
            return self.start_order()  # "just checking whether my money ever came back on that polish"
        if intent is Intent.SUPPORT and self.asks_what_shop_does():
            return self.answer_question(asked=True)
        if intent is Intent.SUPPORT:
            return self.start_support()
        if self.bare_booking_answer():
            return self.start_booking()
        if intent is Intent.HOURS:
            return self.answer_hours()
        if intent in (Intent.QUESTION, None, Intent.GREETING):
            # a line asked with a question mark that nothing understood ("Please, you are doing the
            # piercing of ears in your shop?") is still a question: the team can be asked
            return self.answer_question(asked=intent is None and "?" in self.raw)
        return None

    def books_unheard_cancel(self) -> bool:
        """A cancellation the classifier hears in no cancelling words, of a service the line names
        whole, on a day at a time: "we wanna lock out the studio for a half day on Christmas Eve,
        startin' at noon" (a Lockout) books it."""
        if any(found.intent is Intent.CANCEL for found in detect_intents(self.raw[:500])):
            return False
        return self.asks_for_a_slot() and self.service_wanted(typos=False, whole=True) is not None

    def asks_what_shop_does(self) -> bool:
        """Trouble the shop did not cause, told to ask whether it does that kind of work (DOES_IT_AT_ALL):
        a question for its knowledge, not a complaint to file."""
        if not DOES_IT_AT_ALL.search(self.text):
            return False
        return not self.tells_of_shop_work

    def complains_of_work_done(self) -> bool:
        """A complaint about the shop's own work ("you guys replaced my windshield two weeks ago
        and now it's leaking onto my dash. I'm not happy"), which names a service and so sounds
        like a booking of it to the classifier: a ticket holding the caller's words, when the
        classifier hears a complaint too and the caller names no day or time for a visit."""
        if self.probability(Intent.SUPPORT) < MAYBE_COMPLAINT or self.gives_details():
            return False
        return self.tells_of_shop_work

    @functools.cached_property
    def tells_of_shop_work(self) -> bool:
        """A clause of the line tells what the shop did ("you guys replaced my windshield", "you cancelled")."""
        return any(SHOP_DID.search(normalize(clause)) for clause in PAST_BREAKS.split(self.raw[:500]))

    def bare_booking_answer(self) -> bool:
        """A few words that only name a service, or only a day or a time, said while nothing is
        under way ("eye test", "Thursday the 10th", "half past ten"): what a caller says to book,
        the service being the one just talked about when the line names none. Never a question."""
        if self.intent not in (Intent.QUESTION, Intent.HOURS, Intent.GREETING, None) or asks_question(self.raw):
            return False
        if len(self.text.split()) > BARE_WORDS:
            return False
        if match_option(self.raw, self.ctx.shop.service_options(), whole=True):
            return True
        if self.intent is Intent.HOURS and not self.state.get("topic"):
            return False  # "Sunday" alone, with nothing talked about yet, may ask the hours
        return bool(self.days_named(self.raw) or parse_time(self.raw, expect_time=True))

    def asks_another_time(self) -> bool:
        """A line read as a cancellation or a complaint that asks for another time instead and
        may be a move ("cant make my lens check sat morning now, any chance of later on that
        day?"): a move, unless it says to cancel. The classifier may hear the new time asked for
        as a booking rather than a move: either counts."""
        if self.intent not in (Intent.CANCEL, Intent.SUPPORT):
            return False
        if self.probability(Intent.RESCHEDULE) + self.probability(Intent.BOOK) < MAYBE_MOVE:
            return False
        return bool(OTHER_TIME.search(self.text)) and not SAYS_CANCEL.search(self.text)

    def sounds_like_move(self) -> bool:
        """'can I move my tune-up to wednesday': a move word and one of the shop's services."""
        return (
            bool(MOVE_WORDS.search(self.text)) and match_option(self.raw, self.ctx.shop.service_options()) is not None
        )

    def moves_a_booking(self) -> bool:
        """A booking request that speaks of the caller's own appointment, by its day or service,
        and might be a move ("I can't make my eye test Thursday, can we shove it to next week")
        is a move: a caller never ends with two appointments unless they asked for two."""
        if self.meaning is None:
            return False
        if self.probability(Intent.RESCHEDULE) < MAYBE_MOVE and not MOVE_IT.search(self.text):
            return False  # unless it moves "it": "y'all are doing my windows tomorrow at one, push it back an hour?"
        return self.names_own_appointment

    @functools.cached_property
    def names_own_appointment(self) -> bool:
        """The line speaks of one of the caller's appointments, by its day or its service."""
        listed = self.tools.run(self.ctx, "list_my_appointments", {}).data.get("appointments", [])
        days = {d.day for d in find_dates(self.raw, self.ctx.local_now)}
        service = match_option(self.raw, self.ctx.shop.service_options())
        return any(datetime.fromisoformat(a["start"]).date() in days or a["service"] == service for a in listed)

    @functools.cached_property
    def cancels_own_appointment(self) -> bool:
        """A line in cancelling words about the caller's own appointment ("I've got a review tomorrow
        at nine but I've gotta pull out, what's the damage if I cancel now?") cancels it, whatever
        else it asks: it is no booking of the appointment the caller already has."""
        said = SUPPOSED.sub(" ", canonical(self.raw[:500]))  # "if I cancel ..." only supposes it
        if NOT_CANCELLING.search(said):
            return False  # "a'm no' cancellin' or anything, but ..."
        cancels = any(found.intent is Intent.CANCEL for found in detect_intents(said))
        return cancels and not self.tells_of_shop_work and self.names_own_appointment  # not "you cancelled"

    def asks_unheard_cancel(self) -> bool:
        """A cancellation the classifier hears in no cancelling words, in a question that names none of
        the caller's appointments ("our kid's giving us a lift in on Saturday, where's he meant to leave
        the car round yours"): the question."""
        return asks_question(self.raw) and not self.cancel_said and not self.names_own_appointment

    def moves_unheard_cancel(self) -> bool:
        """A cancellation the classifier hears in no cancelling words, of the caller's own appointment,
        for a new time or day ("a'm booked tae drop aff a suit on Tuesday at eleven, could ye make it
        hawf eleven insteid?"): a move."""
        if not INSTEAD.search(self.text) or self.cancel_said:
            return False
        return bool(self.days_said() or parse_time(self.raw)) and self.names_own_appointment

    @functools.cached_property
    def cancel_said(self) -> bool:
        """The line cancels in words the rules know, said plainly ("call it off" is "cancel")."""
        return any(found.intent is Intent.CANCEL for found in detect_intents(canonical(self.raw[:500])))

    def probability(self, intent: Intent) -> float:
        """What the classifier gives ``intent`` for this line."""
        guesses = self.meaning.guesses if self.meaning else ()
        return next((g.probability for g in guesses if g.label == intent.value), 0.0)

    def asks_for_a_slot(self) -> bool:
        """One of the shop's services, on a day, at a clock time."""
        when = parse_time(self.raw)
        return bool(self.service_wanted() and self.dates_wanted and when and when.at)

    def asks_for_a_visit(self) -> bool:
        """A service with a when, or, with no service named, a day and a time or words that ask for
        a visit ("could I bring it in tomorrow, say nine?"), and nothing of moving one."""
        if self.sounds_like_booking():
            return True
        if MOVE_WORDS.search(self.text):
            return False
        return bool(BOOKING_WORDS.search(self.text) or (self.dates_wanted and parse_time(self.raw)))

    def sounds_like_booking(self, *, told_of: bool = True) -> bool:
        """'what's the earliest you can do a tune up tomorrow': a service plus a when."""
        if not self.service_wanted(told_of=told_of):
            return False
        when = parse_time(self.raw)
        return bool(BOOKING_WORDS.search(self.text) or (when and when.earliest) or self.dates_wanted)

    def fallback(self) -> Reply:
        if self.intent is Intent.GREETING:
            return self.ask("Hi! How can I help you today?", "open")
        return self.miss("Sorry, I didn't quite get that.")

    # -- replies ---------------------------------------------------------------------------------

    def reply(self, text: str, actions: tuple[Action, ...] = (), *, pending: str | None = None) -> Reply:
        self.state["pending"] = pending
        if pending is None and not actions:
            self.state["pending"] = "anything_else"
            text = f"{text} Is there anything else I can help with?"
        self.state["misses"] = 0 if pending != "retry" else self.state.get("misses", 0)
        return Reply(text.strip(), actions)

    def ask(self, question: str, pending: str, preface: str = "") -> Reply:
        self.state["pending"] = pending
        self.state["misses"] = 0
        return Reply(f"{preface} {question}".strip())

    def miss(self, prefix: str) -> Reply:
        misses = int(self.state.get("misses", 0)) + 1
        self.state["misses"] = misses
        if misses >= MAX_MISSES:
            self.reset()
            self.state["pending"] = "fallback_offer"
            self.state["misses"] = 0
            return Reply(
                "I'm sorry, I'm having trouble understanding. Would you like me to connect you with someone "
                "from the team, or take a message?",
                understood=False,
            )
        question = self.state.get("question")
        if self.pending and question:
            return Reply(f"{prefix} {question}", understood=False)
        return Reply(f"{prefix} {CAN_HELP_WITH}", understood=False)

    def goodbye(self) -> Reply:
        self.reset()
        self.state["pending"] = None
        return Reply(f"Thanks for contacting {self.ctx.shop.name}. Goodbye!", (Action(ActionKind.HANG_UP),))

    def reset(self) -> None:
        for key in ("task", "proposal", "offered", "question", "workflow"):
            self.state.pop(key, None)
        self.state["slots"] = self.slots = {}
        self.state["task_line"] = self.raw[:500]  # what the caller said that started (or ended) a task

    def run_tool(self, name: str, args: dict[str, Any], *, end_on_action: bool = False) -> Reply:
        result: ToolResult = self.tools.run(self.ctx, name, args)
        if end_on_action and result.actions:
            self.reset()
            return Reply(result.text, result.actions)
        self.reset()
        return self.reply(result.text)

    def asking(self, question: str, pending: str, preface: str = "") -> Reply:
        """Ask and remember the question, so a misunderstanding can repeat it."""
        self.state["question"] = question
        return self.ask(question, pending, preface)

    # -- answering what we asked ----------------------------------------------------------------

    def answer_pending(self) -> Reply | None:
        pending = self.pending or ""
        if pending == "anything_else":
            if yes_no(self.raw) is True and len(self.text.split()) <= 3:
                return self.ask("What else can I help with?", "open")
            return None
        if pending == "fallback_offer":
            return self.answer_fallback_offer()
        if pending == "take_message":
            if yes_no(self.raw) is True and self.intent in CHANGES_OF_MIND:
                return None  # "yes, cancel it anyway": the request, not the message
            if yes_no(self.raw) is True:
                return self.start_message(with_this_line=False, about=self.state.pop("unanswered", None))
            if yes_no(self.raw) is False:
                self.state.pop("unanswered", None)
                return self.reply("No problem.")
            return None
        if pending.startswith("wf:"):
            return self.answer_workflow_slot(pending[3:])
        task = self.state.get("task")
        if task == "book":
            return self.continue_booking()
        if task in ("reschedule", "cancel"):
            return self.continue_change()
        if task == "order":
            return self.continue_order()
        if task == "support":
            return self.continue_support()
        if task == "privacy":
            return self.continue_privacy()
        if task == "message":
            return self.continue_message()
        return None

    def answer_fallback_offer(self) -> Reply | None:
        if self.intent is Intent.MESSAGE or re.search(r"\b(message|note|call me back|callback)\b", self.text):
            return self.start_message(with_this_line=False)
        if yes_no(self.raw) is True or Intent.HUMAN in self.intents or re.search(r"\b(connect|person)\b", self.text):
            return self.run_tool("transfer_call", {"reason": "Caller was not understood"}, end_on_action=True)
        return None

    def confirmed(self) -> Reply:
        proposal = self.state.get("proposal") or {}
        tool, args = proposal.get("tool"), proposal.get("args", {})
        if not tool:
            return self.reply("Okay.")
        self.tools.confirm(self.ctx, tool, args)
        result = self.tools.run(self.ctx, tool, args)
        success = result.outcome is not None
        if not success and self.state.get("task") in ("book", "reschedule"):
            self.slots.pop("time", None)
            self.state.pop("proposal", None)
            return self.advance_booking(preface=result.text)
        if tool == "book_appointment":
            self.state["booked_line"] = self.state.get("task_line")
        self.reset()
        return self.reply(result.text)

    def declined(self) -> Reply:
        task = self.state.get("task")
        self.state.pop("proposal", None)
        if task in ("book", "reschedule"):
            for key in ("time", "day", "part", "earliest", "latest", "any_time"):
                self.slots.pop(key, None)
            return self.asking("No problem. What day would work better?", "day")
        self.reset()
        return self.reply("No problem, I won't do that.")

    # -- booking ---------------------------------------------------------------------------------

    def take_booking_entities(self, *, expect_time: bool = False) -> None:
        # a service already chosen changes only for one named whole and word for word ("the later one" is
        # no "water", "whatever's first" no "first visit")
        chosen = bool(self.slots.get("service")) and self.pending != "service"
        service = self.service_wanted(typos=not chosen, whole=chosen)
        if service and (self.state.get("task") == "book" or self.pending == "service"):
            self.slots["service"] = service
        staff = self.named_staff()
        if staff:
            self.slots["staff"] = staff
        day = self.new_day()
        if day is not None and day.isoformat() == self.slots.get("closed_day"):
            self.slots.pop("day_instead", None)  # the closed day again: the day offered it is, not asked again
        elif day is not None:
            # a new day is for a new time, unless it is said instead of the one the agent offered for
            # the time asked for ("Wednesday the 2nd then")
            if self.slots.get("day") != day.isoformat() and self.slots.get("day_instead") != self.slots.get("day"):
                self.slots.pop("time", None)
            self.slots["day"] = day.isoformat()
        said = self.move_request[1] if self.moving() else self.raw
        when = parse_time(said, expect_time=expect_time) if said.strip() else None
        if when is not None:
            if when.at is not None:
                if day is None:
                    self.slots.pop("day_instead", None)  # a time for the day offered: that day it is
                self.slots["time"] = when.at.strftime("%H:%M")
            if when.part:
                self.slots["part"] = when.part
            if when.earliest:
                self.slots["earliest"] = True
        if not self.ctx.caller.name:
            asked = self.pending == "name"
            name = extract_name(self.raw, expect_name=asked)
            # "it's salsa I'm after" names a service, not the caller; "it's Siobhan, S I O B H A N",
            # said in passing, is a first name: the booking's name is asked for whole
            passing = (
                not asked
                and name
                and (" " not in name or match_option(name, self.ctx.shop.service_options(), whole=True))
            )
            if name and not passing:
                self.slots["name"] = name

    def new_day(self) -> date | None:
        """The date the caller wants (for a move: the new one, not the one it is on now)."""
        if self.moving():
            return self.move_request[0]
        days = self.days_said()
        return days[0] if days else None

    def days_named(self, text: str) -> list[date]:
        """The days ``text`` names; "next week" alone names a week, not its Monday: the caller
        is asked which day."""
        return [d.day for d in self.dates_named(text)]

    def dates_named(self, text: str) -> list[DateMatch]:
        return [d for d in find_dates(text, self.ctx.local_now) if d.text not in WEEK_ONLY]

    def moving(self) -> bool:
        """A move whose appointment is known, and a line that is not the answer to "what day?"."""
        return self.state.get("task") == "reschedule" and bool(self.slots.get("from_day")) and self.pending != "day"

    @functools.cached_property
    def move_request(self) -> tuple[date | None, str]:
        """For a move: the new day, if the caller said one, and the words about the new time
        (read once a turn: the day and the time are taken from it one after the other)."""
        old = date.fromisoformat(self.slots["from_day"])
        shift = SHIFT_BY.search(self.text)
        if shift:
            count, unit = shift.group(1) or shift.group(3), shift.group(2) or shift.group(4)
            back = -1 if EARLIER.search(self.text) else 1  # "bring it forward a day"
            return old + timedelta(days=back * COUNTS[count] * (7 if unit == "week" else 1)), ""
        if DAY_AFTER.search(self.text):
            return old + timedelta(days=1), ""
        new_day, names_old_day, time_words = None, False, ""
        for clause in CLAUSE_BREAKS.split(self.raw):
            found_days = self.dates_named(clause)
            days = [
                old if names_its_weekday(f, old, clause) else nearest_to(f, old, self.today, clause) for f in found_days
            ]
            if days and all(day == old for day in days):
                names_old_day = True
                continue
            new_days = [day for day in days if day != old]
            has_time = parse_time(clause) is not None
            if new_days:
                new_day = new_days[-1]
                time_words = clause if has_time else ""  # "to Friday afternoon": the new day's clause
            elif has_time and not (new_day and time_words) and moved_to(time_words) is None:
                # else the last clause that says a time ("Morning." opens a call), after the one the
                # move goes to ("prepone it to the morning itself? Evening we have a function")
                time_words = clause
        text = time_words
        when = parse_time(text) if text.strip() else None
        if new_day is None and (THAT_DAY.search(self.text) or (names_old_day and when is not None)):
            new_day = old  # "later on that day", "move my tuesday one to the afternoon"
        return new_day, text

    def start_booking(self) -> Reply:
        if self.says_again(self.state.get("booked_line")):
            # the request the caller's booking was made for, said again: that booking is to change,
            # not to be made twice (a caller never ends with two appointments unless they asked)
            return self.start_change("reschedule")
        self.reset()
        self.state["task"] = "book"
        self.take_booking_entities()
        if not self.slots.get("service") and self.state.get("topic"):
            self.slots["service"] = self.state["topic"]  # "Saturday?" right after hearing about a service
        return self.advance_booking()

    def continue_booking(self) -> Reply | None:
        if self.pending == "pick":
            picked = self.pick_offered()
            if picked is not None:
                self.slots.pop("day_instead", None)  # a time of the day offered: that day it is
                self.slots["day"], self.slots["time"] = picked.date().isoformat(), picked.strftime("%H:%M")
                return self.advance_booking()
        before = dict(self.slots)
        self.take_booking_entities(expect_time=self.pending in ("time", "pick"))
        if self.slots == before and self.slots.get("day_instead") in {d.isoformat() for d in self.days_said()}:
            del self.slots["day_instead"]  # "Wednesday the 4th then": the day offered instead, taken
            return self.advance_booking()
        if self.slots == before and self.pending == "time":
            if LATEST.search(self.text):  # "the later one", "as late as you can"
                self.slots["latest"] = True
            elif (
                ANY_TIME.search(self.text)
                or any(re.search(rf"\b{w}\b", self.text) for w in ORDINALS)
                or not self.state.get("misses")
            ):
                # "whenever suits", "any time", or no time at all: offer what is free (once, for a
                # line that says no time: a caller with no time in mind hears the choices)
                self.slots["any_time"] = True
        if self.slots == before:
            aside = self.side_answer()
            if aside is not None:
                return aside
        if self.slots == before and self.pending != "pick":
            return self.miss("Sorry, I didn't get that.")
        if self.slots == before and self.pending == "pick":
            return self.miss("Sorry, which of those times would you like?")
        return self.advance_booking()

    def side_answer(self) -> Reply | None:
        """A question asked in the middle of a booking ("do I need to bring anything?") that the
        shop's knowledge surely answers: the answer, then the question still waiting."""
        if not asks_question(self.raw) or len(self.text.split()) <= PLAIN_ANSWER_WORDS:
            return None
        found = self.knowledge
        question = self.state.get("question")
        if not question or found.data.get("confidence", 0.0) < SURE_ANSWER:
            return None
        return Reply(f"{found.text} {question}")

    def pick_offered(self) -> datetime | None:
        offered = [datetime.fromisoformat(o) for o in self.state.get("offered", [])]
        if not offered:
            return None
        place = place_named(self.text, len(offered))
        if place is not None:
            return offered[place]
        day = parse_date(self.raw, self.ctx.local_now)
        when = parse_time(self.raw, expect_time=True)
        if when is not None and when.at is not None:  # "Friday at 1:30 then", "the 2 o'clock"
            return next((o for o in offered if o.time() == when.at and (day is None or o.date() == day.day)), None)
        if yes_no(self.raw) is True and len(offered) == 1:
            return offered[0]
        return None

    def advance_booking(self, preface: str = "") -> Reply:
        """Ask for the next missing piece, or propose the booking for confirmation."""
        slots, shop = self.slots, self.ctx.shop
        if not slots.get("service"):
            names = say_list([s.name for s in shop.services])
            return self.asking(f"Which service would you like: {names}?", "service", preface)
        staff_note = self.staff_mismatch()
        if staff_note:
            preface = f"{preface} {staff_note}".strip()
        if not slots.get("day") and not slots.get("earliest") and not slots.get("part"):
            return self.asking(f"What day would you like to come in for the {slots['service']}?", "day", preface)
        away = self.staff_away()
        if away:
            preface = f"{preface} {away}".strip()
        args = {"service": slots["service"], "staff": slots.get("staff"), "date": slots.get("day")}
        args |= {"time": slots.get("time"), "part": slots.get("part"), "earliest": bool(slots.get("earliest"))}
        if self.state.get("task") == "reschedule":
            args["moving"] = slots.get("appointment_id")  # its own time is free to move into
        found: dict[str, Any] | None = None  # the day's availability, when looked up already
        if (
            args["date"]
            and not args["time"]
            and not args["earliest"]
            and not (slots.get("any_time") or slots.get("latest"))
        ):
            # a day, or a day and a part of it ("Friday afternoon"): the caller has a time in mind
            day = date.fromisoformat(args["date"])
            if not shop.opening_hours(day) and (after := self.other_day_said(day)):
                # the time they have in mind is for another day they named ("if Friday's no good,
                # Monday works too"), or else for the next day the shop opens
                preface = f"{preface} We're closed on {say_day(day, self.today)}.".strip()
                self.slots["closed_day"] = day.isoformat()  # said again, it changes nothing
                day = after
                self.slots["day"] = args["date"] = day.isoformat()
            ranges = within(shop.opening_hours(day), args["part"])
            if ranges:
                found = self.availability(args)
                # "what have you got Saturday morning?": the times, when there are so few that all are said
                listed = found.get("all_said") and WHATS_FREE.search(self.text)
                if found.get("slots") and not found.get("none_on") and not listed:  # asked on a day with one
                    return self.ask_time(day, ranges, preface)  # else the next day with openings is offered
        if args["date"] and args["time"]:
            day = date.fromisoformat(args["date"])  # "come Saturday around three" where Saturdays end at one
            hours = shop.opening_hours(day)
            if hours and not self.open_at(day, args["time"]):
                self.slots.pop("time", None)
                args["time"] = None
                if self.slots.get("shut_time") != self.slots.get("day"):
                    self.slots["shut_time"] = self.slots.get("day")  # asked once a day: then the choices
                    return self.ask_time(day, hours, preface)
                self.slots["any_time"] = True
        data = found if found is not None else self.availability(args)
        slots_found = [datetime.fromisoformat(s["start"]) for s in data.get("slots", [])]
        notes = [preface] if preface else []
        if data.get("closed"):
            notes.append(f"We're closed on {say_day(date.fromisoformat(data['closed']), self.today)}.")
        if slots_found and (data.get("requested_available") or slots.get("latest")):
            start = slots_found[-1] if slots.get("latest") else slots_found[0]
            if data.get("closed") and data["closed"] != self.slots.get("closed_day"):
                self.slots["closed_day"] = data["closed"]  # said again, it changes nothing
                self.slots["day_instead"] = start.date().isoformat()  # the next day open, said as a choice
            return self.propose_booking(start, " ".join(notes))
        if not slots_found:
            self.slots.pop("day", None)
            self.slots.pop("time", None)
            notes.append(f"I don't have any openings for {with_article(slots['service'])} then.")
            return self.asking("What day would work for you instead?", "day", " ".join(notes))
        info = shop.service(slots["service"])
        group = info is not None and info.capacity > 1
        if data.get("requested_available") is False:  # not the time itself: it is no offer
            notes.append("Sorry, that one is full." if group else "Sorry, that time is already taken.")
        elif data.get("none_on"):
            none_on = say_day(date.fromisoformat(data["none_on"]), self.today)
            notes.append(f"I don't have any openings for {with_article(slots['service'])} on {none_on}.")
        self.state["offered"] = [s.isoformat() for s in slots_found]
        times = say_list([say_time(s) for s in slots_found])
        offer = f"On {say_day(slots_found[0].date(), self.today)} I have {times}."
        if len(slots_found) == 1:
            return self.propose_booking(slots_found[0], " ".join([*notes, offer]))
        return self.asking("Which of those times works for you?", "pick", " ".join([*notes, offer]))

    def availability(self, args: dict[str, Any]) -> dict[str, Any]:
        return self.tools.run(self.ctx, "check_availability", {k: v for k, v in args.items() if v}).data

    def ask_time(self, day: date, ranges: list[tuple[time, time]], preface: str) -> Reply:
        part = self.slots.get("part")
        when = say_day(day, self.today) + (f" {part}" if part in PARTS else "")
        question = f"What time works for you on {when}? We're open {say_hours(ranges)}."
        if self.slots.get("day_instead") == day.isoformat():
            question = f"{question} Or which day would suit you instead?"
        return self.asking(question, "time", preface)

    def open_at(self, day: date, at: str) -> bool:
        """The shop is open on ``day`` at ``at`` ("HH:MM")."""
        moment = time.fromisoformat(at)
        return any(start <= moment < end for start, end in self.ctx.shop.opening_hours(day))

    def staff_away(self) -> str:
        """The caller asked for someone on a day they don't work: say which days they do, and go
        on with their next working day (asking a time on the day asked only leads to "no openings")."""
        schedule = self.ctx.shop.schedule
        staff = schedule.staff_named(self.slots.get("staff"))
        wanted = self.slots.get("day")
        if staff is None or staff.hours is None or not wanted:
            return ""
        day = date.fromisoformat(wanted)
        if staff.hours.get(day.weekday()) or not self.ctx.shop.opening_hours(day):
            return ""  # they work that day, or the shop is closed (said on its own)
        works = [day_name[d] + "s" for d in range(7) if staff.hours.get(d) and schedule.calendar.hours.get(d)]
        note = f"{staff.name} isn't in on {day_name[day.weekday()]}s; {staff.name} works {say_list(works)}."
        following = (day + timedelta(days=n) for n in range(1, 15))
        after = next((d for d in following if staff.hours.get(d.weekday()) and self.ctx.shop.opening_hours(d)), None)
        if after is None:
            self.slots.pop("day", None)
            self.slots.pop("time", None)
            return note
        self.slots["day"] = after.isoformat()  # their next day, at the time or part of day asked for
        return note

    def staff_mismatch(self) -> str:
        """A caller asked for someone who doesn't do this service: say who does, drop the wish."""
        schedule = self.ctx.shop.schedule
        staff = schedule.staff_named(self.slots.get("staff"))
        if staff is None:
            return ""
        service = schedule.service(self.slots["service"])
        if staff.service_ids is None or service.id in staff.service_ids:
            return ""
        self.slots.pop("staff")
        able = [s.name for s in schedule.staff if s.service_ids is None or service.id in s.service_ids]
        who = f" {say_list(able)} can." if able else ""
        return f"{staff.name} doesn't do the {service.name}.{who}"

    def propose_booking(self, start: datetime, preface: str = "") -> Reply:
        slots = self.slots
        name = self.ctx.caller.name or slots.get("name")
        slots["day"], slots["time"] = start.date().isoformat(), start.strftime("%H:%M")
        if not name:
            return self.asking("What name should I put the booking under?", "name", preface)
        if self.state.get("task") == "reschedule":
            return self.propose_move(start, preface)
        with_staff = f" with {slots['staff']}" if slots.get("staff") else ""
        self.state["proposal"] = {
            "tool": "book_appointment",
            "args": {
                "service": slots["service"],
                "start": start.isoformat(),
                "staff": slots.get("staff"),
                "customer_name": name if not self.ctx.caller.name else None,
            },
        }
        self.state["proposal"]["args"] = {k: v for k, v in self.state["proposal"]["args"].items() if v}
        what = with_article(slots["service"])
        question = f"Shall I book {what}{with_staff} on {say_when(start, self.today)} for {name}?"
        if slots.get("day_instead") == start.date().isoformat():
            # the time asked for, on the next day the shop opens instead of a closed one
            question = f"{question} If not, which day would suit you?"
        return self.ask(question, "confirm", preface)

    # -- moving and cancelling -------------------------------------------------------------------

    def start_change(self, task: str) -> Reply:
        self.reset()
        self.state["task"] = task
        days = self.days_said()
        if days and (task == "cancel" or len(days) >= 2):
            # "cancel the nail clip I've got on Friday", "my Tuesday appointment, can we do Wednesday
            # instead": the day it is on is the first the line names
            self.slots["mentioned_date"] = days[0].isoformat()
        return self.find_appointment_to_change()

    def other_day_said(self, closed: date) -> date | None:
        """Instead of a day the shop is closed: another open day the caller named for a booking,
        or the next day the shop opens."""
        shop = self.ctx.shop
        # not a day of the week said as a habit ("Saturdays I'm down the pools with the kids")
        named = self.days_said(habits=False) if self.state.get("task") == "book" else []
        others = [day for day in named if day >= self.today and shop.opening_hours(day)]  # never the closed day
        if others:
            return others[0]
        after = next_open_day(shop.schedule.calendar, closed)
        if after is not None:
            self.slots["day_instead"] = after.isoformat()  # the caller may have another day in mind
        return after

    def days_said(self, *, habits: bool = True) -> list[date]:
        """The distinct days the line names (not a bare "next week"), in order; without
        ``habits``, not a day of the week said in the plural ("I work Mondays")."""
        said = (m for m in self.dates_wanted if m.text not in WEEK_ONLY and (habits or not HABIT.fullmatch(m.text)))
        return list(dict.fromkeys(match.day for match in said))

    def find_appointment_to_change(self) -> Reply:
        task = self.state["task"]
        if self.slots.get("customer_name") and not self.slots.get("date") and self.slots.get("mentioned_date"):
            self.slots["date"] = self.slots["mentioned_date"]
        lookup = {k: self.slots[k] for k in ("customer_name", "date") if self.slots.get(k)}
        listed = self.tools.run(self.ctx, "list_my_appointments", lookup).data.get("appointments", [])
        unsure = self.meaning is None or self.meaning.confidence < SURE_ENOUGH_TO_ASK
        if not listed and not lookup and not self.slots.get("told_identity") and self.identity_in_line():
            return self.find_appointment_to_change()  # "this is Laura Fitzgerald, my tasting on Thursday..."
        a_new_one = not HAS_BOOKING.search(self.text)  # not "I've a tasting booked Thursday"
        if (
            not listed
            and not self.slots.get("customer_name")
            and (task == "reschedule" or unsure)
            and a_new_one
            and self.asks_for_a_visit()
        ):
            # "any chance of a bath and brush on Monday", "could I bring it in tomorrow at nine" from a
            # caller with nothing booked and no name given: a booking (moving needs something booked)
            return self.start_booking()
        if not listed and not lookup and task == "cancel" and unsure and Intent.SUPPORT in self.intents:
            # "I picked Daisy up yesterday and she's got razor burn" from a caller with nothing booked: a complaint
            return self.start_support()
        if not listed and not lookup and self.unsure_question():
            # "would you still take a nippy terrier?" from a caller with nothing booked: a question
            self.reset()
            return self.answer_question(asked=True) or self.fallback()
        if not listed:
            return self.identify_caller()
        mentioned = [d.day for d in find_dates(self.raw, self.ctx.local_now)]
        service = match_option(self.raw, {a["service"]: [a["service"]] for a in listed})
        picked = self.pick_listed(listed) if self.pending == "which_appointment" else None
        chosen = (
            [picked]
            if picked is not None
            else [
                a
                for a in listed
                if (not service or a["service"] == service)
                and (task == "reschedule" or not mentioned or datetime.fromisoformat(a["start"]).date() in mentioned)
            ]
        )
        if task == "reschedule" and mentioned and picked is None:
            on_day = [a for a in chosen if datetime.fromisoformat(a["start"]).date() in mentioned]
            chosen = on_day or chosen
        if len(chosen) != 1:
            options = say_list(
                [f"the {a['service']} on {say_when(datetime.fromisoformat(a['start']), self.today)}" for a in listed]
            )
            return self.asking(f"Which appointment do you mean: {options}?", "which_appointment")
        target = chosen[0]
        start = datetime.fromisoformat(target["start"])
        self.slots |= {
            "appointment_id": target["id"],
            "service": target["service"],
            "from_day": start.date().isoformat(),
        }
        if task == "cancel":
            self.state["proposal"] = {"tool": "cancel_appointment", "args": {"appointment_id": target["id"]}}
            question = f"I see your {target['service']} on {say_when(start, self.today)}. Shall I cancel it?"
            return self.ask(question, "confirm", self.cancel_terms_asked())
        self.take_booking_entities()
        self.slots["service"] = target["service"]
        if SAME_TIME.search(self.text):  # "can we make it Thursday, same time"
            self.slots["time"] = start.strftime("%H:%M")
        if (shifted := self.shifted_time(start)) is not None:
            self.slots |= {"day": self.slots.get("day") or start.date().isoformat(), "time": shifted}
        return self.advance_booking()

    def cancel_terms_asked(self) -> str:
        """What cancelling costs, when the line that cancels asks it ("... what's the damage if I
        cancel now?"): the shop's words on it, and where the appointment stands against them."""
        if not (asks_question(self.raw) and (ASKS_PRICE.search(self.text) or self.supposes)):
            return ""
        found = self.knowledge_of_the_request() or self.tools.run(self.ctx, "search_knowledge", {"query": "cancel"})
        if not found.data.get("found") or not CANCEL_WORDS.search(found.text):
            return ""
        return found.text + self.notice_note(found.text)

    def shifted_time(self, start: datetime) -> str | None:
        """The time a move asks for as a shift of the old one ("push it back an hour", "half an hour
        earlier"), unless the line moves it to a clock time ("push it back to 3, I'm half an hour
        behind")."""
        shift = HOUR_SHIFT.search(self.text) if SHIFTS.search(self.text) else None
        words = self.move_request[1]
        told = moved_to(words) if words else None
        if shift is None or (told is not None and told.at is not None):
            return None
        said = shift.group(1) or shift.group(2)
        minutes = int(said) if said.isdigit() else SHIFT_MINUTES.get(said, 0)
        back = -1 if EARLIER.search(self.text) else 1  # "bring it forward half an hour"
        return (start + timedelta(minutes=back * minutes)).strftime("%H:%M") if minutes else None

    def identity_in_line(self) -> bool:
        """A caller from another number who says who they are and the day their appointment is on
        in the line that asks ("Hi, this is Laura Fitzgerald ... my tasting this Thursday at 10 ...
        push it to Friday"): the name and that day (the first the line names) are looked up."""
        self.slots["told_identity"] = True  # tried once: a wrong guess costs an identity attempt
        name = extract_name(self.raw)
        if not (name and self.slots.get("mentioned_date")):
            return False
        self.slots["customer_name"], self.slots["date"] = name, self.slots["mentioned_date"]
        return True

    def pick_listed(self, listed: list[dict[str, Any]]) -> dict[str, Any] | None:
        """ "the first one", "the later one": an appointment chosen by its place in the list read out."""
        place = place_named(self.text, len(listed))
        return listed[place] if place is not None else None

    def identify_caller(self) -> Reply:
        """No appointment for this number: ask the name and the date it is booked for (a day the
        caller already said counts). After two tries that find nothing, offer a person or a message."""
        if self.slots.get("customer_name") and self.slots.get("date"):
            tries = int(self.slots.get("identity_tries", 0)) + 1
            if tries >= IDENTITY_TRIES:
                self.reset()
                self.state["pending"] = "fallback_offer"
                return Reply(
                    "I couldn't find an appointment under that name on that day. Would you like me to connect "
                    "you with someone from the team, or take a message?"
                )
            self.slots["identity_tries"] = tries
            for key in ("customer_name", "date", "mentioned_date"):
                self.slots.pop(key, None)
            preface = "I couldn't find an appointment under that name on that day."
            return self.asking("What name is the appointment under?", "change_name", preface)
        if not self.slots.get("customer_name"):
            preface = "I couldn't find an appointment for the number you're calling from."
            return self.asking("What name is the appointment under?", "change_name", preface)
        return self.asking("And what day is the appointment?", "change_day")

    def continue_change(self) -> Reply | None:
        if self.pending == "which_appointment":
            return self.find_appointment_to_change()
        if self.pending == "change_name":
            name = extract_name(self.raw, expect_name=True)
            if not name:
                return self.miss("Sorry, I didn't get the name.")
            self.slots["customer_name"] = name
            return self.find_appointment_to_change()
        if self.pending == "change_day":
            day = parse_date(self.raw, self.ctx.local_now)
            if day is None:
                return self.miss("Sorry, which day is it?")
            self.slots["date"] = day.day.isoformat()
            return self.find_appointment_to_change()
        return self.continue_booking()

    def propose_move(self, start: datetime, preface: str) -> Reply:
        old = self.slots["from_day"]
        listed = self.tools.run(self.ctx, "list_my_appointments", {}).data.get("appointments", [])
        current = next((a for a in listed if a["id"] == self.slots["appointment_id"]), None)
        was = (
            say_when(datetime.fromisoformat(current["start"]), self.today)
            if current
            else say_day(date.fromisoformat(old))
        )
        if current and datetime.fromisoformat(current["start"]) == start:  # nothing to move
            service = self.slots["service"]
            self.reset()
            return self.reply(f"{preface} Your {service} is already booked for {was}.")
        self.state["proposal"] = {
            "tool": "reschedule_appointment",
            "args": {"appointment_id": self.slots["appointment_id"], "new_start": start.isoformat()},
        }
        question = (
            f"I can move your {self.slots['service']} from {was} to {say_when(start, self.today)}. Shall I go ahead?"
        )
        return self.ask(question, "confirm", preface)

    # -- orders ----------------------------------------------------------------------------------

    def start_order(self) -> Reply:
        self.reset()
        self.state["task"] = "order"
        self.take_order_number(expect_order=False)
        return self.advance_order()

    def take_order_number(self, *, expect_order: bool) -> bool:
        """The order number the line says, and the other readings of its digit groups to try
        when it finds no order ("twenty, three eighty-nine" is heard 2389 and may be 20389)."""
        readings = order_number_readings(self.raw, expect_order=expect_order)
        if readings:
            self.slots["order_number"], self.slots["other_readings"] = readings[0], readings[1:]
        return bool(readings)

    def continue_order(self) -> Reply | None:
        if self.pending == "order_number":
            if not self.take_order_number(expect_order=True):
                return self.miss("Sorry, I didn't get the order number.")
            self.slots.pop("email", None)
        elif self.pending == "email":
            email = extract_email(self.raw)
            if not email:
                return self.miss("Sorry, I didn't get that email address.")
            self.slots["email"] = email
        return self.advance_order()

    def advance_order(self) -> Reply:
        args = {k: self.slots[k] for k in ("order_number", "email") if self.slots.get(k)}
        result = self.tools.run(self.ctx, "lookup_order", args)
        while result.data.get("need") == "order_number" and self.slots.get("other_readings"):
            self.slots["order_number"] = args["order_number"] = self.slots["other_readings"].pop(0)
            result = self.tools.run(self.ctx, "lookup_order", args)
        data = result.data
        if data.get("verified"):
            return self.run_done(result)
        if data.get("need") == "order_number":
            preface = result.text if args else ""
            return self.asking("What's the order number?", "order_number", preface)
        if data.get("email_given"):
            self.reset()
            return self.reply(result.text)
        return self.asking("To protect your privacy, what email address did you use for that purchase?", "email")

    def run_done(self, result: ToolResult) -> Reply:
        self.reset()
        if "confidence" in result.data:  # the shop's knowledge answered: asked again, it did not help
            self.state["answered"] = self.raw[:500]
        if result.data.get("kind") in ("policy", "faq") and CANCEL_WORDS.search(plain_verbs(self.text)):
            result = replace(result, text=result.text + self.notice_note(result.text))
        if result.data.get("kind") == "service":
            self.state["topic"] = result.data["title"]  # a day said next is for booking it
        if result.data.get("in_stock") is False and RESTOCK.search(self.text):
            # "I know they're sold out, but when are you getting more in": no shop file says when
            return self.offer_message(f"{result.text} I don't have a date for when more come in.")
        return self.reply(result.text)

    def notice_note(self, policy: str) -> str:
        """Where the caller's next appointment stands against the notice a cancellation policy
        asks for, when the policy names one notice period ("Please give at least 24 hours' notice
        ...": "Your Massage Therapy 90 on Wednesday at 2 pm is more than 24 hours away ...")."""
        if not CANCEL_WORDS.search(policy):
            return ""
        periods = {int(n) * (24 if unit.startswith("day") else 1) for n, unit in NOTICE.findall(policy)}
        listed = self.tools.run(self.ctx, "list_my_appointments", {}).data.get("appointments", [])
        if len(periods) != 1 or not listed:
            return ""
        hours, start = periods.pop(), datetime.fromisoformat(listed[0]["start"])
        booked = f"Your {listed[0]['service']} on {say_when(start, self.today)}"
        if start - self.ctx.local_now < timedelta(hours=hours):
            return f" {booked} is less than {hours} hours away, so the late-notice terms apply."
        if FREE.search(policy) and not KEPT.search(policy):
            return f" {booked} is more than {hours} hours away, so cancelling it now is free of charge."
        return f" {booked} is more than {hours} hours away, so you're outside that window."

    # -- support tickets -------------------------------------------------------------------------

    def start_support(self) -> Reply:
        self.reset()
        self.state["task"] = "support"
        self.slots["problem"] = self.raw.strip()[:1000]
        number = extract_order_number(self.raw)
        if number:
            self.slots["order_number"] = number
        return self.advance_support("I'm sorry to hear that.")

    def continue_support(self) -> Reply | None:
        if self.pending == "name":
            name = extract_name(self.raw, expect_name=True)
            if not name:
                return self.miss("Sorry, I didn't get your name.")
            self.slots["name"] = name
        elif self.pending == "order_number":
            number = extract_order_number(self.raw, expect_order=True)
            self.slots["order_number"] = number or "unknown"
        return self.advance_support()

    def advance_support(self, preface: str = "") -> Reply:
        if not self.ctx.caller.name and not self.slots.get("name"):
            return self.asking("What's your name?", "name", preface)
        if not self.slots.get("order_number") and ABOUT_AN_ORDER.search(normalize(self.slots["problem"])):
            return self.asking("Which order is this about? What's the order number?", "order_number", preface)
        number = self.slots.get("order_number") or "unknown"
        description = self.slots["problem"] + (f"\nOrder: {number}" if number != "unknown" else "")
        subject = f"Problem with order {number}" if number != "unknown" else "Customer problem"
        self.state["proposal"] = {
            "tool": "create_ticket",
            "args": {"subject": subject, "description": description, "tags": ["support"]}
            | ({"customer_name": self.slots["name"]} if self.slots.get("name") else {}),
        }
        return self.ask("I'll open a ticket so the team can sort this out. Shall I submit it?", "confirm", preface)

    # -- messages --------------------------------------------------------------------------------

    def start_message(
        self, *, for_whom: str | None = None, with_this_line: bool = True, about: str | None = None
    ) -> Reply:
        """Take a message: what it is about (``about``: the question the agent could not answer),
        who is calling, the number to call them back on."""
        self.reset()
        self.state["task"] = "message"
        if for_whom:
            self.slots["for"] = for_whom
        if about:
            self.slots["message"] = about
        elif with_this_line and len(self.text.split()) >= MESSAGE_IN_REQUEST:
            self.slots["message"] = self.raw.strip()[:1000]  # "...can someone call me about my delivery"
        preface = "" if self.ctx.shop.is_open(self.ctx.now) else "The team isn't available right now."
        return self.advance_message(preface)

    def advance_message(self, preface: str = "") -> Reply:
        recipient = self.slots.get("for") or "the team"
        if not self.slots.get("message"):
            return self.asking(
                f"I can take a message for {recipient}. What would you like me to pass on?", "message", preface
            )
        if not self.ctx.caller.name and not self.slots.get("name"):
            return self.asking("And who's calling, please? What's your name?", "name", preface)
        if not self.slots.get("callback"):
            phone = self.ctx.caller.phone
            if phone and not self.slots.get("callback_offered"):
                self.slots["callback_offered"] = True
                return self.asking(f"Is {phone} the best number to reach you on?", "callback", preface)
            return self.asking("What number should they call you back on?", "callback", preface)
        args = {"message": self.slots["message"], "callback_number": self.slots["callback"]}
        args |= {k: v for k, v in (("customer_name", self.slots.get("name")), ("for", self.slots.get("for"))) if v}
        return self.run_tool("take_message", args)

    def continue_message(self) -> Reply | None:
        if self.pending == "message":
            self.slots["message"] = self.raw.strip()[:1000]
        elif self.pending == "name":
            name = extract_name(self.raw, expect_name=True)
            if not name:
                return self.miss("Sorry, I didn't get your name.")
            self.slots["name"] = name
        elif self.pending == "callback":
            phone, answer = extract_phone(self.raw, self.ctx.shop.region), yes_no(self.raw)
            if phone:
                self.slots["callback"] = phone
            elif answer is True and self.ctx.caller.phone:
                self.slots["callback"] = self.ctx.caller.phone
            elif answer is not False:
                return self.miss("Sorry, I didn't get the number.")
        return self.advance_message()

    # -- privacy requests ------------------------------------------------------------------------

    def start_privacy(self, request_type: str) -> Reply:
        self.reset()
        self.state["task"] = "privacy"
        self.slots["type"] = request_type
        if request_type == "correction" and len(self.text.split()) > DESCRIBES_CORRECTION:
            self.slots["details"] = self.raw.strip()[:1000]  # "my last name is spelled wrong, it's Wisniewski"
        preface = f"I can ask {self.ctx.shop.name} to {PRIVACY_WORDS[request_type]}."
        return self.advance_privacy(preface)

    def continue_privacy(self) -> Reply | None:
        if self.pending == "name":
            name = extract_name(self.raw, expect_name=True)
            if not name:
                return self.miss("Sorry, I didn't get your name.")
            self.slots["name"] = name
        elif self.pending == "email":
            email = extract_email(self.raw)
            if email is None and self.restates_task():
                # asked for an email, the caller says the request again: none to give, and the
                # request said twice is plain enough to record ("... not Shivaun. Please fix it")
                self.slots["said_twice"] = True
                self.slots.setdefault("details", self.raw.strip()[:1000])
            self.slots["email"] = email or "none given"
        elif self.pending == "details":
            self.slots["details"] = self.raw.strip()[:1000]
        return self.advance_privacy()

    def advance_privacy(self, preface: str = "") -> Reply:
        request_type = self.slots["type"]
        if not self.ctx.caller.name and not self.slots.get("name"):
            return self.asking("What name should I put on the request?", "name", preface)
        if not self.slots.get("email"):
            return self.asking("What email address should they use to reply to you?", "email", preface)
        if request_type == "correction" and not self.slots.get("details"):
            return self.asking("What needs to be corrected?", "details", preface)
        details = f"reply to: {self.slots['email']}" + (
            f"\n{self.slots['details']}" if self.slots.get("details") else ""
        )
        args = {"type": request_type, "details": details}
        if self.slots.get("name"):
            args["customer_name"] = self.slots["name"]
        if "@" in self.slots["email"]:
            args["email"] = self.slots["email"]
        self.state["proposal"] = {"tool": "record_privacy_request", "args": args}
        if self.slots.get("said_twice"):
            return self.confirmed()
        question = f"Shall I record your request for {self.ctx.shop.name} to {PRIVACY_WORDS[request_type]}?"
        return self.ask(question, "confirm", preface)

    # -- workflows -------------------------------------------------------------------------------

    def matching_workflow(self) -> dict[str, Any] | None:
        """The merchant's workflow whose trigger words the line says; not when the line asks after
        an order it names by number ("order three zero nine five, is it ready to pick up?" is no
        pickup from the caller's home)."""
        if self.intent is Intent.ORDER_STATUS and self.names_an_order():
            return None
        return next((w for w in self.ctx.shop.workflows if says_phrase(self.raw, w.get("triggers", []))), None)

    def start_workflow(self, workflow: dict[str, Any]) -> Reply:
        self.reset()
        self.state["task"] = "workflow"
        self.state["workflow"] = workflow["name"]
        return self.advance_workflow(workflow, str(workflow.get("say_start") or ""))

    def current_workflow(self) -> dict[str, Any] | None:
        name = self.state.get("workflow")
        return next((w for w in self.ctx.shop.workflows if w["name"] == name), None)

    def advance_workflow(self, workflow: dict[str, Any], preface: str = "") -> Reply:
        for slot in workflow.get("collect", []):
            if slot["slot"] not in self.slots:
                return self.asking(slot["ask"], f"wf:{slot['slot']}", preface)
        result = self.tools.run(self.ctx, f"workflow_{workflow['name']}", dict(self.slots))
        return self.run_done(result)

    def answer_workflow_slot(self, name: str) -> Reply | None:
        workflow = self.current_workflow()
        if workflow is None:
            return None
        slot = next(s for s in workflow.get("collect", []) if s["slot"] == name)
        value = self.slot_value(slot)
        if value is None:
            return self.miss("Sorry, I didn't get that.")
        self.slots[name] = value
        return self.advance_workflow(workflow)

    def slot_value(self, slot: dict[str, Any]) -> str | None:
        kind, raw = slot["type"], self.raw.strip()
        if kind == "name":
            return extract_name(raw, expect_name=True)
        if kind == "phone":
            if re.search(r"\b(this|same|my) (number|phone)\b", self.text) and self.ctx.caller.phone:
                return self.ctx.caller.phone
            return extract_phone(raw, self.ctx.shop.region)
        if kind == "email":
            return extract_email(raw)
        if kind == "number":
            digits = re.search(r"\d+(?:\.\d+)?", raw)
            number = words_to_number(self.text)
            return digits.group() if digits else (str(number) if number is not None else None)
        if kind == "choice":
            return match_option(raw, {option: [option] for option in slot.get("options") or []})
        if kind == "yes_no":
            answer = yes_no(raw)
            return None if answer is None else ("yes" if answer else "no")
        if kind == "date":
            day = parse_date(raw, self.ctx.local_now)
            return day.day.isoformat() if day else None
        if kind == "time":
            when = parse_time(raw, expect_time=True)
            return when.at.strftime("%H:%M") if when and when.at else None
        return raw[:500] or None

    # -- questions -------------------------------------------------------------------------------

    def answer_hours(self) -> Reply:
        """Every day the caller asked about ("do you shut late Thursdays, and Sundays?"), or the
        week; an ordinary open day is answered from the hours like any other."""
        text = self.said_hours(*self.days_asked_about(self.raw))
        self.reset()
        return self.reply(text)

    def answers_nothing_asked(self) -> bool:
        """A bare name, number or email out of the blue ("Sam Whitaker"): an answer to a question
        nobody asked, which no entry of the shop's knowledge answers however near it ranks."""
        if len(self.text.split()) > PLAIN_ANSWER_WORDS or asks_question(self.raw):
            return False
        if extract_phone(self.raw, self.ctx.shop.region) or extract_email(self.raw):
            return True
        meaning = self.meaning
        return meaning is not None and meaning.guesses[0].label == "other" and meaning.confidence >= SURE_OF_REQUEST

    def answer_question(self, *, asked: bool = False) -> Reply | None:
        """The shop's answer; a question it has none for is offered as a message for the team."""
        if self.answers_nothing_asked():
            return None
        result = self.knowledge
        if result.data.get("found"):
            return self.run_done(result)
        hours = self.hours_instead()
        if hours is not None:
            return self.run_done(hours)
        if self.intent is None:  # nothing understood but the question mark: what the agent can do, too
            return self.offer_message(f"I'm not sure about that one. {CAN_HELP_WITH}") if asked else None
        if asked or self.intent is Intent.QUESTION:
            return self.offer_message("I'm not sure about that one.")
        return None

    def offer_message(self, preface: str) -> Reply:
        """A question the shop's data leaves unanswered: the team can be asked, in a message."""
        self.state["pending"] = "take_message"
        self.state["unanswered"] = self.raw.strip()[:1000]  # the message, if the caller wants one taken
        return Reply(
            f"{preface} Would you like me to take a message for the team?",
            understood=False,
            unanswered=self.state["unanswered"],
        )
