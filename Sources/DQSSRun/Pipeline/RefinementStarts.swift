// Where §6.2's greedy refinement starts (`dqss search --mode ptq --refine-from`).
//
// The refinement is greedy, one layer and one side at a time, so where it ends depends on where it
// starts, and a start's score before refinement does not say which start refines further: on
// ShuffleNetV2 x0.5 W8A4 the derived network scored better than uniform EQ (so `best` starts there),
// yet EQ refined to a far lower score (0.273 vs 0.336, docs/results.md). `both` refines from the
// search's derived network and from the best uniform candidate and keeps the refined network with the
// lower validation score. Its cost: one more refinement; with the greedy peer (which is the refinement
// from the best uniform candidate) in the same run, none. `all` adds the sensitivity selection as a third
// start (the start of the "sensitivity + greedy" peer): the refinement kept is then the best of the three
// starts users would otherwise pick between. Each refinement keeps the trials that lower its
// score on the validation images, so its final score there is biased low by what it fitted; with
// `--select-images` the two refined networks are compared on further images neither saw (`kept`).

/// Which starts the greedy refinement runs from (file header).
public enum RefinementStarts: String, Sendable, CaseIterable, Codable {
    /// The one start with the lowest validation score among the derived network and the uniform
    /// candidates (ties: derived) — §6.2 as first built.
    case best
    /// The derived network and the best uniform candidate (lowest score, ties: branch order), each
    /// refined; the lower final score is kept (ties: the start `best` would have picked).
    case both
    /// `both`'s two starts and the sensitivity selection (SensitivitySelection: per layer and side the
    /// candidate with the lowest first-order loss change, one backward per calibration batch), each
    /// refined; the lowest final score is kept (ties: the earlier start). With the sensitivity peers in the
    /// same run the third refinement is the "sensitivity + greedy" peer's, reused.
    case all
}

extension RefinementStarts {
    /// Which of the refinements (in run order, the better start's first) is kept: the lowest selection
    /// score when every refinement has one (`--select-images`: held-out images none of them was fitted
    /// to), else the lowest final validation score; ties keep the earlier.
    public static func kept(validationScores: [Double], selectionScores: [Double?]) -> Int {
        let selection = selectionScores.count == validationScores.count ? selectionScores.compactMap { $0 } : []
        let scores = selection.count == validationScores.count ? selection : validationScores
        return scores.indices.min { scores[$0] < scores[$1] } ?? 0
    }
}
