// chance.js — does a model beat chance? One rule for the live page (picker, compare view) and the
// report (best-in-column marks). A model "does not beat chance" when its test AUC is at most 0.55,
// or its test accuracy is within two standard errors of 50% (a coin flip), n test images (1000
// when unknown). Such a model is still offered, marked, but it never counts as agreeing with the
// live model or as the best of a column: a constant P(dog) ≈ 0.5 is calibrated and fast for free.
export function beatsChance({ accuracy, auc, n } = {}) {
  if (Number.isFinite(auc) && auc <= 0.55) return false;
  if (Number.isFinite(accuracy)) {
    const se = Math.sqrt(0.25 / (Number.isFinite(n) && n > 0 ? n : 1000));
    if (accuracy <= 0.5 + 2 * se) return false;
  }
  return true;
}
