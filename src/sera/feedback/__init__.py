"""Customer feedback: after a call or a text conversation ends, one text asking "How did we
do? Reply 1-5", sent by the outbound engine like any other message the shop authorised, and
the customer's answer, recorded with the conversation it was about.

- ``settings``: whether a shop asks, and in what words (off by default).
- ``asking``: which ended conversations get a question (planning) and what it says (rendering).
- ``replies``: an answer recognised in an inbound text, recorded and thanked.
- ``report``: the summary the weekly report reads, the list the API shows, the customer's export.
"""
