// CheckpointLayout: the HDF5 layout of format "dqss-checkpoint" version 1 (docs/checkpoint.md).
//
//   /                 attrs format, format_version, model, task, command_line, config (JSON), world_size, created
//   /progress         attrs epoch, step, data_cursor, global_batch
//   /rng/<stream>     uint64[4]                 xoshiro256** state
//   /model/<name>     float32[shape]            every parameter and buffer by state_dict name
//   /quantization     attrs temperature; candidates (strings), layer_names (strings, module order)
//   /quantization/layers/<layer>
//                     attrs activation_bits, weight_bits, activation_unsigned, activation_assignment, weight_assignment
//                     activation_thresholds, weight_thresholds, alpha, beta  float32[N]
//                     parameters/<name>  learnable quantizer parameters
//   /assignment       layer, activation, weight (strings): the winner-take-all table, for h5dump readers
//   /optimizer        attrs kind, schedule_time
//   /optimizer/groups/<group>   attrs lr, base_lr, momentum, weight_decay, nesterov; parameters (strings)
//   /optimizer/state/<parameter>/<buffer>   momentum_buffer | exp_avg, exp_avg_sq, step
//   /trainer          attrs kind and the loop's texts (JSON); the loop's arrays as datasets
//
// Decoding checks that every required object is there with the right element type and that sizes
// agree (N thresholds and logits per layer for N candidates); HDF5Errors become CheckpointErrors.

import DQSSQuant
import Foundation

enum CheckpointLayout {
    // MARK: - Encode

    static func write(_ c: Checkpoint, to file: HDF5File) throws {
        let root = try file.root()
        try root.setAttribute("format", Checkpoint.formatName)
        try root.setAttribute("format_version", Int64(Checkpoint.formatVersion))
        try root.setAttribute("model", c.model)
        try root.setAttribute("task", c.task)
        try root.setAttribute("command_line", c.commandLine)
        try root.setAttribute("config", c.config)
        try root.setAttribute("world_size", Int64(c.worldSize))
        try root.setAttribute("created", ISO8601DateFormatter().string(from: Date()))

        let progress = try root.createGroup("progress")
        try progress.setAttribute("epoch", Int64(c.progress.epoch))
        try progress.setAttribute("step", Int64(c.progress.step))
        try progress.setAttribute("data_cursor", Int64(c.progress.dataCursor))
        try progress.setAttribute("global_batch", Int64(c.progress.globalBatch))

        let rng = try root.createGroup("rng")
        for s in c.rngStates { try rng.write(s.name, .uint64(s.state)) }

        let model = try root.createGroup("model")
        for t in c.stateDict { try model.write(t.name, t.array) }

        if let q = c.quantization {
            let g = try root.createGroup("quantization")
            try g.setAttribute("temperature", q.temperature)
            try g.writeStrings("candidates", q.candidates)
            try g.writeStrings("layer_names", q.layers.map(\.name))
            let layers = try g.createGroup("layers")
            for l in q.layers {
                let lg = try layers.createGroup(l.name)
                try lg.setAttribute("activation_bits", Int64(l.activationBits))
                try lg.setAttribute("weight_bits", Int64(l.weightBits))
                try lg.setAttribute("activation_unsigned", Int64(l.activationUnsigned ? 1 : 0))
                try lg.setAttribute("activation_assignment", l.activationAssignment)
                try lg.setAttribute("weight_assignment", l.weightAssignment)
                try lg.write("activation_thresholds", .float32(l.activationThresholds))
                try lg.write("weight_thresholds", .float32(l.weightThresholds))
                if let c = l.weightChannelThresholds {
                    // [candidates, channels], row k = candidate k's per-channel T_w.
                    try lg.write("weight_channel_thresholds", .float32(c.flatMap { $0 }))
                }
                if let r = l.weightRoundings {
                    // AdaRound: per candidate the mask's length (0: round to nearest), then the masks' bits.
                    try lg.write("weight_rounded", .int64(r.map { Int64($0?.count ?? 0) }))
                    try lg.write("weight_rounding", .uint64(r.compactMap { $0 }.flatMap(WeightRoundingWords.pack)))
                }
                try lg.write("alpha", .float32(l.alpha))
                try lg.write("beta", .float32(l.beta))
                let pg = try lg.createGroup("parameters")
                for p in l.parameters { try pg.write(p.name, p.array) }
            }
            let a = try root.createGroup("assignment")
            try a.writeStrings("layer", q.layers.map(\.name))
            try a.writeStrings("activation", q.layers.map(\.activationAssignment))
            try a.writeStrings("weight", q.layers.map(\.weightAssignment))
        }

        if let o = c.optimizer {
            let g = try root.createGroup("optimizer")
            try g.setAttribute("kind", o.kind)
            try g.setAttribute("schedule_time", o.scheduleTime)
            let groups = try g.createGroup("groups")
            for gs in o.groups {
                let gg = try groups.createGroup(gs.name)
                try gg.setAttribute("lr", Double(gs.lr))
                try gg.setAttribute("base_lr", Double(gs.baseLR))
                try gg.setAttribute("momentum", Double(gs.momentum))
                try gg.setAttribute("weight_decay", Double(gs.weightDecay))
                try gg.setAttribute("nesterov", Int64(gs.nesterov ? 1 : 0))
                try gg.writeStrings("parameters", gs.parameterNames)
            }
            let state = try g.createGroup("state")
            for ps in o.state {
                let pg = try state.createGroup(ps.parameter)
                for b in ps.buffers { try pg.write(b.name, b.array) }
            }
        }

        if let t = c.trainer {
            let g = try root.createGroup("trainer")
            try g.setAttribute("kind", t.kind)
            try g.writeStrings("text_names", t.texts.map(\.name))
            for x in t.texts { try g.setAttribute(x.name, x.value) }
            for a in t.arrays { try g.write(a.name, a.array) }
        }
    }

    // MARK: - Decode

    /// Read and check the format attributes only (cheap: used to pick the latest readable checkpoint).
    static func readHeader(_ root: HDF5Group, path: String) throws -> (model: String, version: Int) {
        guard root.hasAttribute("format"), let format = try? root.stringAttribute("format") else {
            throw CheckpointError(.notACheckpoint, file: path, "not a dqss checkpoint (no 'format' attribute on '/')")
        }
        guard format == Checkpoint.formatName else {
            throw CheckpointError(.notACheckpoint, file: path,
                                  "format is '\(format)', expected '\(Checkpoint.formatName)'")
        }
        let version = Int(try root.int64Attribute("format_version"))
        guard version == Checkpoint.formatVersion else {
            throw CheckpointError(.unsupportedVersion, file: path,
                                  "format version \(version); this dqss reads version \(Checkpoint.formatVersion)")
        }
        return (try root.stringAttribute("model"), version)
    }

    static func read(from file: HDF5File) throws -> Checkpoint {
        let path = file.path
        let root = try file.root()
        let header = try readHeader(root, path: path)
        func int(_ g: HDF5Group, _ name: String) throws -> Int { Int(try g.int64Attribute(name)) }
        func float(_ g: HDF5Group, _ name: String) throws -> Float { Float(try g.doubleAttribute(name)) }
        func floats(_ g: HDF5Group, _ name: String, count: Int) throws -> [Float] {
            try g.read(name, type: "float32", shape: [count]).float32Values!
        }

        /// α/β: N logits, or none (a single-candidate QAT run has no architecture parameters).
        func logits(_ g: HDF5Group, _ name: String, count: Int) throws -> [Float] {
            let a = try g.read(name, type: "float32")
            guard a.shape == [count] || a.shape == [0] else {
                throw HDF5Error(file: path, object: g.path + "/" + name, operation: "read dataset",
                                detail: "has shape \(a.shape), expected [\(count)] (one logit per candidate)")
            }
            return a.float32Values!
        }
        let p = try root.group("progress")
        let progress = TrainingProgress(epoch: try int(p, "epoch"), step: try int(p, "step"),
                                        dataCursor: try int(p, "data_cursor"), globalBatch: try int(p, "global_batch"))
        let rngGroup = try root.group("rng")
        let rngStates = try rngGroup.childNames().map {
            RNGStreamState(name: $0, state: try rngGroup.read($0, type: "uint64", shape: [4]).uint64Values!)
        }
        let model = try root.group("model")
        let stateDict = try model.childNames().map { NamedArray(name: $0, array: try model.read($0, type: "float32")) }

        var quantization: QuantizationState?
        if root.contains("quantization") {
            let g = try root.group("quantization")
            let candidates = try g.readStrings("candidates")
            let n = candidates.count
            let layerGroups = try g.group("layers")
            let layers = try g.readStrings("layer_names").map { name -> QuantizedLayerState in
                let lg = try layerGroups.group(name)
                let pg = try lg.group("parameters")
                var channels: [[Float]]?
                if try lg.childNames().contains("weight_channel_thresholds") {
                    let flat = try lg.read("weight_channel_thresholds", type: "float32").float32Values!
                    guard n > 0, flat.count % n == 0 else {
                        throw HDF5Error(file: path, object: lg.path + "/weight_channel_thresholds", operation: "read dataset",
                                        detail: "\(flat.count) values for \(n) candidates (one row of channels per candidate)")
                    }
                    let c = flat.count / n
                    channels = (0..<n).map { Array(flat[($0 * c) ..< (($0 + 1) * c)]) }
                }
                var roundings: [WeightRounding?]?
                if try lg.childNames().contains("weight_rounded") {
                    let flags = try lg.read("weight_rounded", type: "int64", shape: [n]).int64Values!
                    let words = try lg.read("weight_rounding", type: "uint64").uint64Values!
                    let sizes = flags.map { Int(max($0, 0)) }
                    guard words.count == sizes.reduce(0, { $0 + ($1 + 63) / 64 }) else {
                        throw HDF5Error(file: path, object: lg.path + "/weight_rounding", operation: "read dataset",
                                        detail: "\(words.count) words for masks of \(sizes) weights")
                    }
                    var start = 0
                    roundings = sizes.map { size in
                        guard size > 0 else { return nil }
                        let n = (size + 63) / 64
                        defer { start += n }
                        return WeightRoundingWords.unpack(Array(words[start ..< start + n]), count: size)
                    }
                }
                return QuantizedLayerState(
                    name: name, activationBits: try int(lg, "activation_bits"), weightBits: try int(lg, "weight_bits"),
                    activationUnsigned: try int(lg, "activation_unsigned") != 0,
                    activationThresholds: try floats(lg, "activation_thresholds", count: n),
                    weightThresholds: try floats(lg, "weight_thresholds", count: n),
                    alpha: try logits(lg, "alpha", count: n), beta: try logits(lg, "beta", count: n),
                    parameters: try pg.childNames().map { NamedArray(name: $0, array: try pg.read($0)) },
                    activationAssignment: try lg.stringAttribute("activation_assignment"),
                    weightAssignment: try lg.stringAttribute("weight_assignment"),
                    weightChannelThresholds: channels, weightRoundings: roundings)
            }
            quantization = QuantizationState(candidates: candidates, temperature: try g.doubleAttribute("temperature"),
                                             layers: layers)
        }

        var optimizer: OptimizerState?
        if root.contains("optimizer") {
            let g = try root.group("optimizer")
            let groupsGroup = try g.group("groups")
            let groups = try groupsGroup.childNames().map { name -> OptimizerGroupState in
                let gg = try groupsGroup.group(name)
                return OptimizerGroupState(name: name, lr: try float(gg, "lr"), baseLR: try float(gg, "base_lr"),
                                           momentum: try float(gg, "momentum"), weightDecay: try float(gg, "weight_decay"),
                                           nesterov: try int(gg, "nesterov") != 0,
                                           parameterNames: try gg.readStrings("parameters"))
            }
            let stateGroup = try g.group("state")
            let state = try stateGroup.childNames().map { name -> ParameterOptimizerState in
                let pg = try stateGroup.group(name)
                return ParameterOptimizerState(parameter: name, buffers: try pg.childNames().map {
                    NamedArray(name: $0, array: try pg.read($0))
                })
            }
            optimizer = OptimizerState(kind: try g.stringAttribute("kind"), scheduleTime: try g.doubleAttribute("schedule_time"),
                                       groups: groups, state: state)
        }

        var trainer: TrainerSection?
        if root.contains("trainer") {
            let g = try root.group("trainer")
            let textNames = try g.readStrings("text_names")
            trainer = TrainerSection(kind: try g.stringAttribute("kind"),
                                     arrays: try g.childNames().filter { $0 != "text_names" }.map { NamedArray(name: $0, array: try g.read($0)) },
                                     texts: try textNames.map { NamedText(name: $0, value: try g.stringAttribute($0)) })
        }

        return Checkpoint(model: header.model, task: try root.stringAttribute("task"),
                          commandLine: try root.stringAttribute("command_line"), config: try root.stringAttribute("config"),
                          worldSize: try int(root, "world_size"), progress: progress, rngStates: rngStates,
                          stateDict: stateDict, quantization: quantization, optimizer: optimizer, trainer: trainer)
    }
}
