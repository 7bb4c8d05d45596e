import torch

from benchmark.data import batches


def test_digits_splits_are_disjoint_and_stratified(digits):
    assert len(digits.eval) == 540 and len(digits.train) == 1257
    (image,), label = digits.eval[0]
    assert image.shape == (1, 8, 8) and float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    train = {tuple(digits.train[i][0][0].flatten().tolist()) for i in range(len(digits.train))}
    overlap = sum(tuple(digits.eval[i][0][0].flatten().tolist()) in train for i in range(len(digits.eval)))
    assert overlap < 5  # the digits set has a few duplicate images, nothing more
    eval_counts = torch.bincount(
        torch.stack([digits.eval[i][1] for i in range(len(digits.eval))]), minlength=10
    )
    assert int(eval_counts.min()) >= 50


def test_last_partial_batch_is_padded_to_the_cell_shape(digits):
    out = list(batches(digits.eval, batch_size=64, limit=150))
    assert [b.valid for b in out] == [64, 64, 22]
    assert all(b.inputs[0].shape == (64, 1, 8, 8) and b.labels.shape == (64,) for b in out)
    last = out[-1]
    assert torch.equal(last.inputs[0][22:], last.inputs[0][21:22].expand(42, 1, 8, 8))
