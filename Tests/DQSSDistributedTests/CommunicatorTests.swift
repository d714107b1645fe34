import Testing
import DQSSDistributed

@Suite("Communicator (single process)")
struct CommunicatorTests {
    @Test("SingleProcess: rank 0 of 1, every collective is the identity")
    func singleProcess() {
        let c = SingleProcess()
        #expect(c.rank == 0 && c.size == 1 && c.isRoot)
        var f: [Float] = [1.5, -2]
        c.allreduce(&f, .sum)
        #expect(f == [1.5, -2])
        var d: [Double] = [3, 4]
        c.allreduce(&d, .max)
        #expect(d == [3, 4])
        var i: [Int64] = [7]
        c.allreduce(&i, .min)
        #expect(i == [7])
        #expect(c.allreduce(5, .sum) == 5)
        var b: [Float] = [9, 8]
        c.broadcast(&b)
        #expect(b == [9, 8])
        #expect(c.allgather([1, 2, 3]) == [[1, 2, 3]])
        #expect(c.any(true) && !c.any(false))
    }

    @Test("MPI only under an MPI launcher (Open MPI, PMIx, PMI) or DQSS_MPI=1; DQSS_MPI=0 forbids it")
    func launchDetection() {
        #expect(!Distributed.launchedByMPI([:]))
        #expect(!Distributed.launchedByMPI(["PATH": "/usr/bin", "SLURM_JOB_ID": "12"]))
        #expect(Distributed.launchedByMPI(["OMPI_COMM_WORLD_SIZE": "2"]))
        #expect(Distributed.launchedByMPI(["PMIX_RANK": "0"]))
        #expect(Distributed.launchedByMPI(["PMI_RANK": "1"]))
        #expect(Distributed.launchedByMPI(["DQSS_MPI": "1"]))
        #expect(!Distributed.launchedByMPI(["DQSS_MPI": "0", "OMPI_COMM_WORLD_SIZE": "2"]))
    }

    @Test("the test process itself runs as a single process")
    func world() {
        #expect(Distributed.world.size == 1 && Distributed.world.rank == 0)
    }

    @Test("fault injection parses KIND@RANK and ignores malformed values")
    func faultInjection() {
        #expect(FaultInjection.fromEnvironment(["DQSS_INJECT_FAULT": "nan@1"]) == FaultInjection(kind: .nan, rank: 1))
        #expect(FaultInjection.fromEnvironment(["DQSS_INJECT_FAULT": "shard@0"])?.applies(.shard, rank: 0) == true)
        #expect(FaultInjection.fromEnvironment(["DQSS_INJECT_FAULT": "shard@0"])?.applies(.nan, rank: 0) == false)
        #expect(FaultInjection.fromEnvironment(["DQSS_INJECT_FAULT": "disk@1"]) == nil)
        #expect(FaultInjection.fromEnvironment(["DQSS_INJECT_FAULT": "nan@-1"]) == nil)
        #expect(FaultInjection.fromEnvironment([:]) == nil)
    }

    @Test("error lines name the rank in a multi-rank job, not in a single process")
    func errorLines() {
        #expect(RankLog(communicator: SingleProcess()).errorLine("bad") == "dqss: error: bad\n")
    }
}
