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


def _sides(split, groups):
    """{group: the parts its ids are in}."""
    part_of = {i: p for p in ("train", "val", "test") for i in split.part(p)}
    found = {}
    for i, g in groups.items():
        found.setdefault(g, set()).add(part_of[i])
    return found


@pytest.mark.parametrize("n_groups", [3, 4, 7, 60])
def test_hash_split_never_puts_a_group_in_two_parts(n_groups):
    groups = {f"g{g}_shot{k}": f"g{g}" for g in range(n_groups) for k in range(1 + g % 4)}
    s = hash_split(list(groups), groups=groups)
    assert s.train and s.val and s.test and sorted(s.part("all")) == sorted(groups)
    assert all(len(sides) == 1 for sides in _sides(s, groups).values())


def test_too_few_groups_is_a_clear_error():
    groups = {"a1": "a", "a2": "a", "b1": "b", "b2": "b"}
    with pytest.raises(UserError, match="2 group\\(s\\) are too few"):
        hash_split(list(groups), groups=groups)


def test_demo_ids_keep_each_person_in_one_part_without_split_json(tmp_path):
    """The committed demo set without its split.json: no test person is also in train (nor val)."""
    import shutil

    from personseg.labeling.committed import committed_dataset

    demo = committed_dataset("demo")
    shutil.copy(demo / "dataset.json", tmp_path / "dataset.json")
    ids = sorted(p.stem for p in (demo / "images").iterdir())
    s = split_ids(ids, tmp_path)
    person = {p: {i.split("_")[0] for i in s.part(p)} for p in ("train", "val", "test")}
    assert s.source == "hash" and person["test"] and person["val"]
    assert not person["test"] & person["train"] and not person["val"] & person["train"]
    assert not person["test"] & person["val"]


def test_val_carved_from_split_file_train_keeps_groups(tmp_path):
    groups = {f"p{g}": [f"p{g}_{k}" for k in range(5)] for g in range(30)}
    (tmp_path / "dataset.json").write_text(json.dumps({"groups": groups}))
    (tmp_path / "split.json").write_text(json.dumps({"test": groups["p0"]}))
    s = split_ids([i for m in groups.values() for i in m], tmp_path)
    assert s.val and all(len(sides) == 1 for sides in _sides(s, {i: g for g, m in groups.items() for i in m}).values())


def test_no_groups_warns_and_grouped_does_not(tmp_path, caplog):
    ids = [f"i{n}" for n in range(20)]
    split_ids(ids, tmp_path)
    assert "no 'groups' in its dataset.json" in caplog.text
    caplog.clear()
    (tmp_path / "dataset.json").write_text(json.dumps({"groups": {i: [i] for i in ids}}))
    split_ids(ids, tmp_path)
    assert "groups" not in caplog.text


@pytest.mark.parametrize(("groups", "message"), [
    ({"a": ["x"], "b": ["x"]}, "id 'x' is in both 'a' and 'b'"),
    ({"a": "x"}, "'groups' must map each group name to a list of ids"),
])
def test_bad_groups_name_the_card(tmp_path, groups, message):
    (tmp_path / "dataset.json").write_text(json.dumps({"groups": groups}))
    with pytest.raises(UserError, match=message) as err:
        split_ids(["x", "y", "z"], tmp_path)
    assert str(tmp_path / "dataset.json") in str(err.value)
