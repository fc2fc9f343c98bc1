import numpy as np
import pytest

from landmarks.data.annotations import DatasetError, read_annotations, read_pts, read_xml, split_train_val, write_xml
from landmarks.data.training_faces import load_faces
from landmarks.training.trainer import TrainConfig, train


def test_reads_the_real_xml_files(data_dir):
    train_faces = read_xml(data_dir / "labels_train.xml")
    common = read_xml(data_dir / "labels_test_common.xml")
    assert (len(train_faces), len(common)) == (2014, 554)
    first = train_faces[0]
    assert first.image.name == "afw_1051618982_1.jpg" and first.image.is_file()
    assert first.box == (47.0, 52.0, 160.0, 151.0)
    assert first.points.shape == (68, 2)
    np.testing.assert_allclose(first.points[0], [47.50, 75.90])
    # the crops put every point inside roughly [47.5, 207.5] of the 256 px crop (data README)
    pts = np.stack([r.points for r in train_faces])
    assert pts.min() > 40 and pts.max() < 215


def test_reads_300w_pts_folders(tmp_path, test_records):
    rec = test_records[0]
    (tmp_path / "face.jpg").write_bytes(rec.image.read_bytes())
    body = "\n".join(f"{x + 1:.3f} {y + 1:.3f}" for x, y in rec.points)  # .pts are 1-based
    (tmp_path / "face.pts").write_text(f"version: 1\nn_points: 68\n{{\n{body}\n}}\n")
    np.testing.assert_allclose(read_pts(tmp_path / "face.pts"), rec.points, atol=1e-3)
    (faces,) = read_annotations(tmp_path)
    np.testing.assert_allclose(faces.points, rec.points, atol=1e-3)


def test_written_xml_reads_back_with_paths_relative_to_it(tmp_path, test_records):
    faces = test_records[:5]
    out = write_xml(faces, tmp_path / "deep" / "labels.xml", name="five faces")
    text = out.read_text()
    assert 'file="/' not in text and 'file="..' in text  # relative, as dlib's tools write them
    back = read_xml(out)
    assert [r.image for r in back] == [r.image for r in faces]
    for a, b in zip(back, faces):
        np.testing.assert_allclose(a.points, b.points, atol=0.005)
        assert a.box == tuple(float(round(v)) for v in b.box)


def test_validation_split_is_fixed_and_disjoint(data_dir):
    records = read_xml(data_dir / "labels_train.xml")
    train_a, val_a = split_train_val(records)
    train_b, val_b = split_train_val(records)
    assert [r.image for r in val_a] == [r.image for r in val_b]
    assert 180 <= len(val_a) <= 225
    assert not {r.image for r in train_a} & {r.image for r in val_a}


GOOD_FACE = "<box top='1' left='1' width='5' height='5'>" + "".join(
    f"<part name='{i:02d}' x='{i}' y='{i}'/>" for i in range(68)
) + "</box>"


@pytest.mark.parametrize(
    "image_xml, message",
    [
        ("<image file='missing.jpg'>" + GOOD_FACE + "</image>", "missing.jpg not found"),
        ("<image file='face.jpg'>" + GOOD_FACE.replace("<part name='67' x='67' y='67'/>", "") + "</image>", "has 67 parts, expected 68"),
        ("<image file='face.jpg'>" + GOOD_FACE.replace("x='5'", "x='five'") + "</image>", "part 5 x is 'five', not a number"),
    ],
)
def test_bad_xml_names_file_and_problem(tmp_path, test_records, image_xml, message):
    (tmp_path / "face.jpg").write_bytes(test_records[0].image.read_bytes())
    xml = tmp_path / "labels.xml"
    xml.write_text(f"<dataset><images>{image_xml}</images></dataset>")
    with pytest.raises(DatasetError, match=message) as e:
        read_xml(xml)
    assert str(xml) in str(e.value)


def test_unreadable_image_is_a_clear_error(tmp_path):
    (tmp_path / "face.jpg").write_bytes(b"this is not a jpeg")
    xml = tmp_path / "labels.xml"
    xml.write_text(f"<dataset><images><image file='face.jpg'>{GOOD_FACE}</image></images></dataset>")
    with pytest.raises(DatasetError, match="face.jpg: not a readable image"):
        load_faces(read_xml(xml), progress=False)
    with pytest.raises(DatasetError, match="1 faces are too few for a training and a validation split"):
        train(TrainConfig(data=str(xml), out=str(tmp_path / "run"), epochs=1, progress=False))


def test_wrong_dataset_paths(tmp_path):
    with pytest.raises(DatasetError, match="annotation file not found"):
        read_xml(tmp_path / "nope.xml")
    with pytest.raises(DatasetError, match="no labels_train.xml in this folder"):
        train(TrainConfig(data=str(tmp_path), out=str(tmp_path / "run"), epochs=1, progress=False))
    (tmp_path / "broken.xml").write_text("<dataset><images>")
    with pytest.raises(DatasetError, match="not a valid XML file"):
        read_xml(tmp_path / "broken.xml")
