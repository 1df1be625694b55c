"""The blind evaluation set stays blind and its scorer scores what it says: no blind user turn (or
a near copy) is in the training data, every conversation is well-formed, and the scorer passes
and fails the replies it should."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from eval.run import KINDS, Reply, Scorer, load_conversations, norm

ROOT = Path(__file__).resolve().parent.parent
FEATURES = {
    "search", "org_details", "partners", "partnerships", "recommend", "programme", "eligibility", "event",
    "market", "contact", "success_story", "introduction", "handoff", "chitchat",
}  # fmt: skip


def training_sentences() -> list[str]:
    out = []
    for path in sorted((ROOT / "data").rglob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in data.get("nlu") or []:
            for line in str(item.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    # "[Osaka](place)" / '[x]{"entity": …}' → the words the user typed
                    out.append(re.sub(r"\[([^\]]*)\](\([^)]*\)|\{[^}]*\})", r"\1", line[2:]))
        for story in (data.get("stories") or []) + (data.get("rules") or []):
            for step in story.get("steps") or []:
                if isinstance(step, dict) and step.get("user"):
                    out.append(str(step["user"]))
    return out


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", norm(text)))


@pytest.fixture(scope="module")
def conversations() -> list[dict]:
    convs = load_conversations()
    assert convs, "no blind conversations found in eval/blind/"
    return convs


def test_no_blind_turn_is_in_the_training_data(conversations):
    train = training_sentences()
    assert len(train) > 1000, "the training data scan found too little — it is broken"
    exact = {norm(s) for s in train}
    bags = [(words(s), s) for s in train if len(words(s)) >= 4]
    for conv in conversations:
        for turn in conv["turns"]:
            user = str(turn["user"])
            mine = words(user)
            if len(mine) < 4:
                continue  # "hello", "and france?", "partners?" are said by everyone, not copied
            assert norm(user) not in exact, f"{conv['id']}: blind turn {user!r} is in data/"
            for bag, sentence in bags:
                overlap = len(mine & bag) / len(mine | bag)
                assert overlap < 0.8, f"{conv['id']}: {user!r} is a near copy of the training example {sentence!r}"


def test_every_conversation_is_well_formed(conversations):
    ids = [c["id"] for c in conversations]
    assert len(ids) == len(set(ids)), "conversation ids must be unique"
    for conv in conversations:
        assert conv["lang"] in {"en", "ja", "de", "fr"}, conv["id"]
        assert set(conv.get("features") or []) <= FEATURES, conv["id"]
        assert conv["turns"], conv["id"]
        for turn in conv["turns"]:
            assert turn.get("kind", "first") in KINDS, conv["id"]
            assert str(turn["user"]).strip(), conv["id"]
            for key in ("expect_all", "expect_any", "expect_none"):
                assert isinstance(turn.get(key) or [], list), f"{conv['id']}: {key} must be a list"


def test_the_scorer_passes_right_answers_and_fails_wrong_ones():
    scorer = Scorer()
    turn = {"kind": "followup", "expect_all": ["2016"], "expect_none": ["2014"]}
    assert scorer.score(turn, Reply(["They signed an MoU in November 2016."], set()))[0]
    assert not scorer.score(turn, Reply(["They signed in 2014."], set()))[0]
    assert not scorer.score(turn, Reply([], set()))[0]
    not_understood = (
        'Sorry, I didn\'t quite understand that. Could you rephrase it? You can also type "help" to see what I can do.'
    )
    assert not scorer.score({"kind": "followup"}, Reply([not_understood], set()))[0]
    assert scorer.score({"kind": "followup"}, Reply(["Here are three clusters."], set()))[0]
    assert scorer.score({"kind": "first", "expect_all": ["1200"]}, Reply(["about 1,200 companies"], set()))[0]


def test_an_unknown_turn_needs_a_reply_that_says_the_sources_do_not_record_it():
    scorer = Scorer()
    turn = {"kind": "unknown", "expect_any": ["Osaka"]}
    said_so = Reply(["My sources don't say a phone number for Osaka Bio Headquarters."], {"not_in_sources"})
    assert scorer.score(turn, said_so)[0]
    assert not scorer.score(turn, Reply(["Osaka Bio Headquarters: +81 6 1234 5678"], set()))[0]
    template_only = Reply(["My sources record no partnerships for Osaka Bio Headquarters."], set())
    assert scorer.score(turn, template_only)[0]
