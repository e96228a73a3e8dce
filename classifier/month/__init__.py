"""The month (docs/month.md): a region's extract -> completed and waiting, the registration audit, the delivery.

`run` is what `bup-classifier month` and `POST /v1/months` both call. Every contact is
classified by the one Classifier through its timeline fold; this package only reads rows,
folds patients, counts and writes.
"""

from classifier.month.run import run

__all__ = ["run"]
