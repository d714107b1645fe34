// dqss-mpitest: the programs the data-parallel tests launch under mpirun (and with one process).
//
//   dqss-mpitest collectives            checks every collective against hand-computed values on each
//                                       rank; prints {"ok":true,"ranks":N} from rank 0
//   dqss-mpitest ptq-search [options]   PTQ calibration (Max_Abs, KL, EQ, ADMM) and an annealed DQSS
//                                       search of TinyConvNet on generated images, each rank holding
//                                       only its shard; rank 0 prints thresholds, α/β, assignment, losses
//                                       and the step timing as one JSON object
//       --images N (32)  --batch B (8, global)  --epochs E (2)  --seed S (7)  --size PX (16)
//       --schedule annealed|paper (annealed)
//   dqss-mpitest adaround [options]     AdaRound's learned rounding of one convolution, each rank holding
//                                       its shard of the inputs, on both reconstruction paths; rank 0
//                                       prints per path: ranks agreeing with rank 0's mask, equality with
//                                       one process on all images, flips, images per rank
//       --shard contiguous|first (contiguous; first = every image on rank 0)  --images N (12)  --iterations I (300)
//
// Fault injection (tests of the abort path): DQSS_INJECT_FAULT=shard@R or nan@R (FaultInjection.swift).
// Errors: every rank prints its own with its rank; a multi-rank job is aborted as a whole (RankedRun).

import Foundation
import DQSSDistributed

let arguments = Array(CommandLine.arguments.dropFirst())
guard let mode = arguments.first else {
    FileHandle.standardError.write(Data("usage: dqss-mpitest collectives | ptq-search [options] | adaround [options]\n".utf8))
    exit(2)
}

do {
    try RankedRun.run(tool: "dqss-mpitest") { comm in
        switch mode {
        case "collectives": try CollectivesCheck.run(comm)
        case "ptq-search": try SearchCheck(arguments: Array(arguments.dropFirst())).run(comm)
        case "adaround": try AdaRoundCheck(arguments: Array(arguments.dropFirst())).run(comm)
        default: throw CheckError("unknown mode '\(mode)'")
        }
    }
} catch {
    FileHandle.standardError.write(Data("dqss-mpitest: error: \(error)\n".utf8))
    exit(1)
}
