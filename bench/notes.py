"""Everyday notes (issue 32): one-line facts stored one per `archival add` line, questions that
share no content word with their note, and lookups of names and codes, among a few hundred
distractor notes of the same kind. Measures top-3 hits of hybrid (the default), vector and text
search through core.archival, on DuckDB (or --postgres).

Run: .venv/bin/python bench/notes.py [--postgres]
The set is the project's own dev set for hybrid's note rules (docs/design.md); it was written
for this, not taken from a published benchmark.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (note, question): the question shares no content word with its note
PAIRS = [
    ("The user works as a marine biologist in Lisbon.", "where is the user's job"),
    ("The user's dog is a border collie named Pixel.", "what pet does the user have"),
    ("The user is allergic to penicillin.", "which medicine must be avoided"),
    ("The user plays the cello on weekends.", "what instrument do they practise"),
    ("The user's birthday is on March 3rd.", "when was the user born"),
    ("The user drives a blue 2015 Honda Civic.", "what car does the user own"),
    ("The user prefers tea over coffee.", "favourite hot drink"),
    ("The user has two older sisters.", "how many siblings"),
    ("The user is learning Portuguese for an upcoming move.", "which language is being studied"),
    ("The user's partner Sam teaches chemistry at a high school.", "what does their spouse do for a living"),
    ("The user ran the Berlin marathon in 2022.", "longest race completed"),
    ("The user's flat is on the fourth floor without a lift.", "how do they get up to the apartment"),
    ("The user is vegetarian since 2018.", "does the user eat meat"),
    ("The user's son Leo started primary school this year.", "how old is the child roughly"),
    ("The user keeps bees in the back garden.", "any hobbies involving insects"),
    ("The user's grandmother lives in Kraków.", "where is the family in Poland"),
    ("The user broke their wrist skiing last winter.", "past injuries"),
    ("The user commutes by bicycle every day.", "how do they get to the office"),
    ("The user's favourite author is Ursula K. Le Guin.", "which writer do they love"),
    ("The user wants to visit Japan in spring for the cherry blossoms.", "dream holiday destination"),
    ("The user's laptop is a ThinkPad X1 Carbon.", "which computer do they use"),
    ("The user has type 1 diabetes and uses an insulin pump.", "chronic health condition"),
    ("The user's band rehearses on Thursday evenings.", "music practice schedule"),
    ("The user studied architecture at ETH Zurich.", "where did they go to university"),
    ("The user is saving for a deposit on a house.", "financial goal"),
    ("The user's mother is recovering from hip surgery.", "parent's health"),
    ("The user hates coriander.", "herbs to leave out when cooking"),
    ("The user volunteers at the food bank on Saturdays.", "charity work"),
    ("The user's cat Miso is afraid of the vacuum cleaner.", "what scares the kitten"),
    ("The user sleeps badly when it is hot.", "trouble resting in summer"),
]
# (note, lookup): names and codes, found by the words themselves
LOOKUPS = [
    ("The wifi password at the cabin is KESTREL-4471.", "KESTREL-4471"),
    ("Dr. Okonkwo is the user's dermatologist.", "Okonkwo"),
    ("The user's booking reference for the Lisbon flight is QX7Z2P.", "QX7Z2P"),
    ("Invoice INV-20931 from Brightline is still unpaid.", "INV-20931"),
    ("The user's locker at the gym is number 318.", "locker 318"),
    ("Marguerite Duval is the landlord's lawyer.", "Marguerite Duval"),
    ("The user's passport expires on 2029-08-14.", "passport expiry"),
    ("The spare key is with neighbour Tobias Lindqvist.", "Lindqvist"),
    ("The project codename for the redesign is Heliotrope.", "Heliotrope"),
    ("The user's bank sort code is 20-45-77.", "sort code"),
]
PEOPLE = ["the user's cousin", "a colleague", "the neighbour", "the user's friend Ana", "the user's boss",
          "the user's brother-in-law", "the landlord", "a former classmate", "the user's niece", "the dentist"]
ACTIONS = ["visited {place} in {year}", "recommended a restaurant in {place}", "moved to {place} in {year}",
           "bought a {thing} last month", "is selling an old {thing}", "mentioned a trip to {place}",
           "lent the user a {thing}", "complained about a broken {thing}", "is organising a party in {place}",
           "asked about the {thing} again"]
PLACES = ["Porto", "Glasgow", "Madrid", "Oslo", "Naples", "Ghent", "Tallinn", "Bologna", "Seville", "Dublin",
          "Utrecht", "Lyon", "Krakow", "Bergen", "Valencia"]
THINGS = ["kayak", "sewing machine", "drone", "espresso machine", "tent", "keyboard", "projector", "telescope",
          "lawnmower", "record player", "camera", "blender"]
DISTRACTORS = 300


def distractors(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    made: set[str] = set()
    while len(made) < count:
        action = rng.choice(ACTIONS).format(place=rng.choice(PLACES), year=rng.randint(2010, 2024),
                                            thing=rng.choice(THINGS))
        made.add(f"{rng.choice(PEOPLE).capitalize()} {action}.")
    return sorted(made)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    from memos.core import archival
    from memos.core.agents import create_agent
    from memos.core.ingest import Record
    from memos.core.workspace import Workspace
    from memos.store.base import PassageQuery

    rng = random.Random(11)
    notes = [note for note, _ in PAIRS + LOOKUPS] + distractors(DISTRACTORS)
    rng.shuffle(notes)  # the facts sit among the distractors, stored one after another
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MEMOS_HOME"] = str(Path(tmp) / "home")
        server = None
        if args.postgres:
            from tests.postgres import new_database, start_server

            server = start_server(Path(tmp) / "pgdata")
            os.environ["MEMOS_DATABASE_URL"] = new_database(server)
        ws = Workspace()
        agent = create_agent(ws, "notes", model="openai/none")
        archival.insert(ws.store, agent, [Record(note) for note in notes], related=False)  # as `archival add` lines
        ten = create_agent(ws, "ten", model="openai/none")
        archival.insert(ws.store, ten, [Record(note) for note, _ in PAIRS[:10]], related=False)
        print(f"# {len(notes)} notes ({len(PAIRS)} paraphrased, {len(LOOKUPS)} lookups); "
              f"{'PostgreSQL' if args.postgres else 'DuckDB'}")
        for mode in ("hybrid", "vector", "text"):
            found = {"paraphrased": 0, "lookups": 0, "ten facts": 0}
            times = []
            for kind, pairs, who in (("paraphrased", PAIRS, agent), ("lookups", LOOKUPS, agent),
                                     ("ten facts", PAIRS[:10], ten)):
                for note, question in pairs:
                    started = time.perf_counter()
                    hits = archival.search(ws.store, who, PassageQuery(text=question, mode=mode, top_k=3))
                    times.append((time.perf_counter() - started) * 1000)
                    found[kind] += note in [hit.passage.text for hit in hits]
            times.sort()
            print(f"{mode:<7} top-3: paraphrased {found['paraphrased']}/{len(PAIRS)}, lookups "
                  f"{found['lookups']}/{len(LOOKUPS)}, all {found['paraphrased'] + found['lookups']}/"
                  f"{len(PAIRS) + len(LOOKUPS)}; ten facts {found['ten facts']}/10; p50 {times[len(times) // 2]:.1f} ms")
        ws.close()
        if server is not None:
            server._cleanup()


if __name__ == "__main__":
    main()
