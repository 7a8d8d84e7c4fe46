"""Discourse helpers and correction claims of memory-only mode (names, replies, "it", updates)."""

from __future__ import annotations

from lycheemem.consolidation.encode import discourse
from lycheemem.consolidation.fusion.heuristic import claim_of, supersedes, updates


def test_person_names_are_cased_and_ids_are_not_names() -> None:
    assert discourse.person_name("dana") == "Dana"
    assert discourse.person_name("mary-ann lee") == "Mary-Ann Lee"
    assert discourse.person_name("Alice Example") == "Alice Example"
    assert discourse.person_name("McKenzie") == "McKenzie"
    assert discourse.person_name("J. R. Smith") == "J. R. Smith"
    for generated in ("user_3f9a2c", "mrossi_82", "priya.k", "a1b2c3d4e5f6", "bob@example.com"):
        assert discourse.person_name(generated) is None
    assert discourse.person_name("  ") is None and discourse.person_name(None) is None


def test_questions_become_indirect_speech() -> None:
    cases = {
        "What are you working on these days?": "what they are working on these days",
        "Where are you staying in Kyoto?": "where they are staying in Kyoto",
        "Which editor do you use for Go?": "which editor they use for Go",
        "What's your favorite food?": "what their favorite food is",
        "What does the platform team own?": "what the platform team owns",
        "What is the team working on?": "what the team is working on",
        "What is the budget?": "what the budget is",
        "Do you have any allergies?": "whether they have any allergies",
    }
    for question, indirect in cases.items():
        assert discourse.indirect_question(question) == indirect
    # Past questions would need the verb re-inflected: no indirect form.
    assert discourse.indirect_question("What did you eat?") is None
    assert discourse.indirect_question("Which cities?") is None


def test_an_elliptical_answer_is_folded_with_its_question() -> None:
    assert discourse.is_elliptical("Mostly the shipment-tracking service.")
    assert discourse.is_elliptical("A ryokan in Kyoto called Hiiragiya.")
    assert not discourse.is_elliptical("I work on the billing API.")
    assert not discourse.is_elliptical("It's written in Go.")
    assert discourse.fold_answer(
        "Mostly the shipment-tracking service.", "What are you working on these days?", "Dana"
    ) == (
        "Asked what they are working on these days, Dana said: mostly the "
        "shipment-tracking service."
    )
    assert discourse.fold_answer("Neovim.", "Any favourite editor?", "The user") == (
        'Asked "Any favourite editor?", the user said: Neovim.'
    )
    # A question that refers back names what the conversation is about.
    assert (
        discourse.fold_answer("A Renault Clio", "Did you find one?", "Sam", topic="the car rental")
        == 'Asked "Did you find the car rental?", Sam said: a Renault Clio.'
    )


def test_comma_splices_split_but_subordinate_openers_stay() -> None:
    assert discourse.split_comma_splice(
        "Neovim with gopls, I can't stand VS Code.", answering=True
    ) == ["Neovim with gopls", "I can't stand VS Code."]
    assert discourse.split_comma_splice(
        "I'm Dana, I work as a backend engineer.", answering=False
    ) == ["I'm Dana", "I work as a backend engineer."]
    for kept in (
        "When I was young, I lived in Oslo.",
        "Last year, I went to Paris.",
        "Neovim with gopls, I can't stand VS Code.",  # not answering: no split
    ):
        assert discourse.split_comma_splice(kept, answering=False) == [kept]


def test_it_takes_the_topic_unless_it_is_expletive() -> None:
    topic = "the shipment-tracking service"
    assert discourse.resolve_it("It's written in Go.", topic) == (
        "The shipment-tracking service is written in Go."
    )
    assert discourse.resolve_it("It runs on Kubernetes.", topic) == (
        "The shipment-tracking service runs on Kubernetes."
    )
    for expletive in (
        "It's been a while.",
        "It was great to see you.",
        "It's nice.",
        "It's raining.",
    ):
        assert discourse.resolve_it(expletive, topic) == expletive
    assert discourse.resolve_it("It's written in Go.", None) == "It's written in Go."
    assert discourse.topic_of_question("How did the connection errors end?", "Dana") == (
        "the connection errors"
    )
    assert discourse.topic_of_question("How is your new job?", "Dana") == "Dana's new job"
    assert discourse.topic_of_answer("Mostly the shipment-tracking service.") == (
        "the shipment-tracking service"
    )


def test_introductions_and_tautologies() -> None:
    assert discourse.self_introduction("I'm Dana, I work at Northwind.") == (
        "Dana",
        "I work at Northwind.",
    )
    assert discourse.self_introduction("My name is Priya.") == ("Priya", "")
    assert discourse.self_introduction("I'm Dana's sister.") is None
    assert discourse.self_introduction("I'm happy today.") is None
    assert discourse.drop_tautology("Dana is Dana, Dana works at Northwind.") == (
        "Dana works at Northwind."
    )
    assert discourse.drop_tautology("Dana is a backend engineer.") == "Dana is a backend engineer."


def test_claims_about_one_attribute_supersede() -> None:
    assert claim_of("Dana's manager is now Tomas Berg.") is not None
    assert supersedes("Dana's manager is now Tomas Berg.", "Dana's manager is Priya Nair.")
    # Without a cue a name replaces a name, but a description does not replace a name.
    assert supersedes("Dana's manager is Tomas Berg.", "Dana's manager is Priya Nair.")
    assert not supersedes("Dana's manager is very supportive.", "Dana's manager is Priya Nair.")
    assert not supersedes("Dana's manager is Priya Nair.", "Dana's manager is Priya Nair.")
    assert supersedes(
        "The team dinner moved from Friday to Saturday.", "The team dinner is on Friday."
    )
    assert supersedes("The team dinner is now on Saturday.", "The team dinner is on Friday.")
    assert supersedes(
        "The deploy window changed: deploys are allowed Monday to Wednesday only.",
        "The deploy window is Tuesday to Thursday.",
    )
    assert supersedes(
        "In Porto Sam switched from the Airbnb to the Torel hotel.",
        "Sam booked an Airbnb near the Ribeira waterfront.",
    )
    assert supersedes("Lisbon is three nights now instead of four.", "Lisbon for four nights.")
    # People use many tools at once: a verb claim needs an update cue.
    assert not supersedes("Dana uses Docker.", "Dana uses Vim.")
    assert supersedes("Dana now uses Helix.", "Dana uses Vim.")
    # Other subjects, other attributes: no correction.
    assert not supersedes("Alex's manager is Tomas Berg.", "Dana's manager is Priya Nair.")
    assert not supersedes("Dana's dentist is Tomas Berg.", "Dana's manager is Priya Nair.")
    assert not supersedes(
        "Caroline moved from Sweden to the US.", "Caroline's grandma is from Sweden."
    )


def test_an_update_cue_with_shared_names_and_other_numbers_updates() -> None:
    new = "Sam now flies KLM KL1691 from Amsterdam to Lisbon on September 13."
    assert updates(new, "Sam booked TAP flight TP575 from Amsterdam to Lisbon on September 12.")
    assert not updates(new.replace("now ", ""), "Sam booked TP575 from Amsterdam to Lisbon.")
    assert not updates(new, "Sam visited Lisbon in 2019.")  # one shared name only
