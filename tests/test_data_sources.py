import pytest
from data_fixtures import class_folders, write_image

from an_lightning.data.sources import UNLABELLED, discover, read_classes

WNIDS = ["n02084071", "n01440764", "n01443537"]


def test_imagenet_train_layout_uses_sorted_wnid_order(tmp_path):
    class_folders(tmp_path, WNIDS, 2)
    (tmp_path / WNIDS[0] / "notes.txt").write_text("ignored")
    src = discover(tmp_path)
    assert src.classes == sorted(WNIDS)
    assert src.layout == "class-folders"
    labels = {it.key: it.label for it in src.items}
    assert len(labels) == 6
    assert labels["n01440764/n01440764_0.JPEG"] == 0
    assert labels["n02084071/n02084071_1.JPEG"] == 2


def _flat(tmp_path, n=4):
    folder = tmp_path / "val"
    for i in range(n):
        write_image(folder / f"ILSVRC2012_val_{i + 1:08d}.JPEG", (20, 20), i)
    return folder


def test_ilsvrc_one_column_ground_truth_is_one_based(tmp_path):
    folder = _flat(tmp_path)
    gt = tmp_path / "gt.txt"
    gt.write_text("3\n1\n2\n3\n")
    src = discover(folder, gt)
    assert [it.label for it in src.items] == [2, 0, 1, 2]
    gt.write_text("1\n2\n")
    with pytest.raises(ValueError, match="has 2 labels but"):
        discover(folder, gt)


def test_loc_val_solution_csv_maps_wnids_through_the_class_list(tmp_path):
    folder = _flat(tmp_path)
    gt = tmp_path / "LOC_val_solution.csv"
    rows = [
        f"ILSVRC2012_val_{i + 1:08d},{WNIDS[i % 3]} 1 2 3 4 {WNIDS[i % 3]} 5 6 7 8"
        for i in range(4)
    ]
    gt.write_text("ImageId,PredictionString\n" + "\n".join(rows[::-1]) + "\n")
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(sorted(WNIDS)) + "\n")
    src = discover(folder, gt, classes)
    order = sorted(WNIDS)
    assert [it.label for it in src.items] == [order.index(WNIDS[i % 3]) for i in range(4)]
    assert src.classes == order


def test_two_column_integer_labels_and_missing_labels(tmp_path):
    folder = _flat(tmp_path, 3)
    gt = tmp_path / "labels.txt"
    gt.write_text("ILSVRC2012_val_00000001.JPEG 4\nILSVRC2012_val_00000002.JPEG 0\n")
    with pytest.raises(ValueError, match=r"1 images .* have no label"):
        discover(folder, gt)
    gt.write_text(gt.read_text() + "ILSVRC2012_val_00000003.JPEG 1\n")
    src = discover(folder, gt)
    assert [it.label for it in src.items] == [4, 0, 1] and len(src.classes) == 5


def test_unknown_class_name_is_an_error(tmp_path):
    folder = _flat(tmp_path, 1)
    gt = tmp_path / "labels.txt"
    gt.write_text("ILSVRC2012_val_00000001.JPEG n99999999\n")
    classes = tmp_path / "c.txt"
    classes.write_text("n01440764\n")
    with pytest.raises(ValueError, match="n99999999"):
        discover(folder, gt, classes)


def test_flat_folder_without_labels_is_unlabelled(tmp_path):
    folder = _flat(tmp_path, 3)
    src = discover(folder)
    assert src.classes == [] and {it.label for it in src.items} == {UNLABELLED}


def test_bad_layouts_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        discover(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        discover(tmp_path / "empty")
    write_image(tmp_path / "mixed" / "a.jpg", (8, 8), 0)
    write_image(tmp_path / "mixed" / "cls" / "b.jpg", (8, 8), 1)
    with pytest.raises(ValueError, match="both images and sub-folders"):
        discover(tmp_path / "mixed")


def test_read_classes_from_index_json_and_bad_file(tmp_path):
    (tmp_path / "index.json").write_text('{"classes": ["a", "b"]}')
    assert read_classes(tmp_path / "index.json") == ["a", "b"]
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="cannot read class names"):
        read_classes(tmp_path / "broken.json")
