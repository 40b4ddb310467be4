"""Train / val / test splits: hash split, split.json rules, and errors that name the file."""

import json

import pytest

from personseg.data.split import hash_split, split_ids
from personseg.errors import UserError


def test_hash_split_is_disjoint_about_70_15_15_and_stable_as_data_grows():
    ids = [f"img{i}" for i in range(400)]
    s = hash_split(ids)
    parts = [set(s.train), set(s.val), set(s.test)]
    assert sum(map(len, parts)) == 400 and len(set().union(*parts)) == 400
    assert 40 < len(s.val) < 80 and 40 < len(s.test) < 80
    grown = hash_split(ids + [f"new{i}" for i in range(100)])
    assert set(s.train) <= set(grown.train) and set(s.val) <= set(grown.val) and set(s.test) <= set(grown.test)
    assert s.part("all") == [*s.train, *s.val, *s.test] and s.counts()["test"] == len(s.test)


@pytest.mark.parametrize("n", [3, 4, 5, 6])
def test_tiny_datasets_get_one_image_in_each_part(n):
    s = hash_split([f"x{i}" for i in range(n)])
    assert s.train and s.val and s.test
    assert sorted(s.part("all")) == sorted(f"x{i}" for i in range(n))


def test_too_small_to_split_is_a_clear_error():
    with pytest.raises(UserError, match="2 image\\(s\\) are too few to split into train, val and test"):
        hash_split(["a", "b"])


def test_split_file_with_all_three_parts(tmp_path):
    (tmp_path / "split.json").write_text(json.dumps({"train": ["a", "b"], "val": ["c"], "test": ["d"]}))
    s = split_ids(["a", "b", "c", "d"], tmp_path)
    assert (s.train, s.val, s.test) == (["a", "b"], ["c"], ["d"]) and s.source.endswith("split.json")


def test_split_file_defaults_train_to_the_rest_and_carves_val_from_train(tmp_path):
    ids = [f"i{n}" for n in range(40)]
    (tmp_path / "split.json").write_text(json.dumps({"test": ids[:5]}))
    s = split_ids(ids, tmp_path)
    assert s.test == ids[:5] and s.val and not set(s.val) & set(s.train)
    assert sorted(s.train + s.val) == sorted(ids[5:])


@pytest.mark.parametrize(("content", "message"), [
    ({"train": ["a"], "val": ["b"]}, "no 'test' list"),
    ({"train": ["a", "c"], "val": ["c"], "test": ["d"]}, "id 'c' is in both train and val"),
    ({"train": ["a"], "test": ["zzz"]}, "ids with no usable sample: zzz"),
    ({"test": ["a"], "holdout": ["b"]}, "unknown key\\(s\\) holdout"),
    ({"test": "a"}, "'test' must be a list of id strings"),
    (["a"], "expected an object"),
])
def test_split_file_errors_name_the_file(tmp_path, content, message):
    (tmp_path / "split.json").write_text(json.dumps(content))
    with pytest.raises(UserError, match=message) as err:
        split_ids(["a", "b", "c", "d"], tmp_path)
    assert str(tmp_path / "split.json") in str(err.value)


def test_unknown_part_name_lists_the_choices():
    with pytest.raises(UserError, match="expected one of train, val, test, all"):
        hash_split(["a", "b", "c"]).part("holdout")
