"""The 20-turn backend-engineer conversation of issue 15, and the ten questions asked of it.

A user registered as ``dana`` (no display name) talks with an assistant: employer, editor,
the Go service on Kubernetes, a connection-pool fix, a Kyoto trip, diet, backups, and two
corrections (a new manager, a dinner moved from Friday to Saturday).
"""

from __future__ import annotations

DANA_TURNS: list[tuple[str, str]] = [
    ("user", "Hi! I'm Dana, I work as a backend engineer at Northwind Logistics."),
    ("assistant", "Nice to meet you, Dana! What are you working on these days?"),
    ("user", "Mostly the shipment-tracking service."),
    ("assistant", "What's the stack behind it?"),
    ("user", "It's written in Go, runs on Kubernetes and stores everything in Postgres."),
    ("assistant", "Which editor do you use for Go?"),
    (
        "user",
        "Neovim with gopls, I can't stand VS Code. Please always give me code examples in Go.",
    ),
    ("assistant", "Noted. Who do you report to?"),
    ("user", "My manager is Priya Nair."),
    ("assistant", "How did the connection errors from last week end?"),
    (
        "user",
        "We fixed them: Postgres max_connections is 200 and we set pgxpool MaxConns to 40 per pod.",
    ),
    ("assistant", "Good. How do you protect the data?"),
    ("user", "I back up my Postgres every night with pg_dump to S3."),
    ("assistant", "Any plans outside work?"),
    ("user", "I'm going to Kyoto in April. The team dinner is on Friday."),
    ("assistant", "Where are you staying in Kyoto?"),
    (
        "user",
        "A ryokan in Kyoto called Hiiragiya. I'm vegetarian, so I need restaurant suggestions.",
    ),
    ("assistant", "I'll keep that in mind."),
    (
        "user",
        "Quick update: my manager is now Tomas Berg. Also, the team dinner moved from Friday "
        "to Saturday.",
    ),
    ("assistant", "Thanks, noted both changes."),
]

# (question, words every right answer's record must contain, words it must not contain)
DANA_QUESTIONS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("Where do I work?", ("Northwind",), ()),
    ("What am I working on?", ("shipment-tracking",), ()),
    ("What language is the service written in?", ("Go", "Kubernetes"), ()),
    ("Which editor do I prefer?", ("Neovim", "gopls"), ()),
    ("How big is the connection pool?", ("max_connections", "MaxConns"), ()),
    ("How do I back up Postgres?", ("pg_dump",), ()),
    ("Where am I staying in Kyoto?", ("Hiiragiya",), ()),
    ("What is my diet?", ("vegetarian",), ()),
    ("Who is my manager?", ("Tomas Berg",), ("Priya",)),
    ("When is the team dinner?", ("Saturday",), ()),
]
