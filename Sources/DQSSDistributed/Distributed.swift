// Distributed.world: the process's communicator, created on first use.
//
// MPI is used only when the process was launched by an MPI launcher (mpirun/mpiexec set
// OMPI_COMM_WORLD_SIZE; srun --mpi=pmix sets PMIX_RANK; PMI-1/2 launchers set PMI_RANK), so that a plain
// `dqss ...` never initialises MPI (no singleton runtime start-up, no MPI in the way of a debugger).
// DQSS_MPI=1 forces MPI (a singleton rank 0 of 1 without a launcher), DQSS_MPI=0 forbids it.
// MPI can be initialised only once per process: this lazily created constant is the one owner.

import Foundation

public enum Distributed {
    /// MPI when launched by an MPI launcher (or DQSS_MPI=1), otherwise a single process.
    public static let world: any Communicator = makeWorld(ProcessInfo.processInfo.environment)

    /// Whether `environment` says this process belongs to an MPI job (see the file header).
    public static func launchedByMPI(_ environment: [String: String]) -> Bool {
        switch environment["DQSS_MPI"] {
        case "1": return true
        case "0": return false
        default: return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].contains { environment[$0] != nil }
        }
    }

    static func makeWorld(_ environment: [String: String]) -> any Communicator {
        launchedByMPI(environment) ? MPICommunicator() : SingleProcess()
    }
}
