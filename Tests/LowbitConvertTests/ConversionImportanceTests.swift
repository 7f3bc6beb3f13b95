import Foundation
import LowbitFormats
import LowbitQuant
import Testing
@testable import LowbitConvert

/// `convert --imatrix`: llama-quantize's rules for an importance matrix (lookup by GGUF name,
/// missing entries, wrong lengths, non-finite values, experts, the type mix, the output keys).
@Suite struct ConversionImportanceTests {
    /// A one-matrix entry whose importance is `values` (sums = values · count).
    static func entry(_ values: [Float], count: Float = 4) -> ImportanceMatrix.Entry {
        ImportanceMatrix.Entry(columns: values.count, sumsOfSquares: values.map { $0 * count }, counts: [count])
    }

    /// Positive, uneven importance for `columns` columns.
    static func ramp(_ columns: Int, seed: Float = 1) -> [Float] {
        (0..<columns).map { Float(($0 * 37 + Int(seed * 11)) % 19 + 1) * 0.25 * seed }
    }

    @Test func vectorsAreSumOverCountAndOnesForUnseenMatrices() throws {
        let expert = ImportanceMatrix.Entry(columns: 2, sumsOfSquares: [6, 9, 5, 5], counts: [3, 0])
        let matrix = ImportanceMatrix(entries: ["blk.0.ffn_down_exps.weight": expert, "blk.0.attn_q.weight": Self.entry([1, 2])])
        let imp = try ConversionImportance(matrix, file: "m.gguf")
        #expect(try imp.weights(for: "blk.0.ffn_down_exps.weight", shape: [2, 8, 2]) == [2, 3, 1, 1])
        #expect(try imp.weights(for: "blk.0.attn_q.weight", shape: [2, 8]) == [1, 2])
        #expect(try imp.weights(for: "blk.0.attn_k.weight", shape: [2, 8]) == nil)  // missing: no importance
    }

    @Test func wrongLengthNamesTensorAndFileButNotForTokenEmbeddings() throws {
        let matrix = ImportanceMatrix(entries: ["blk.1.ffn_up.weight": Self.entry(Self.ramp(32)),
                                                "token_embd.weight": Self.entry(Self.ramp(32))])
        let imp = try ConversionImportance(matrix, file: "/tmp/calib.imatrix")
        let error = try #require(throws: ConvertError.self) { try imp.weights(for: "blk.1.ffn_up.weight", shape: [64, 128]) }
        #expect(error.kind == .badImportance)
        #expect(error.item == "blk.1.ffn_up.weight")
        #expect(error.file == "/tmp/calib.imatrix")
        #expect("\(error)".contains("32") && "\(error)".contains("64"))
        #expect(try imp.weights(for: "token_embd.weight", shape: [64, 1280]) == nil)
        // A dense entry cannot serve a weight of two experts, whose vector is twice as long.
        #expect(throws: ConvertError.self) { try imp.weights(for: "blk.1.ffn_up.weight", shape: [32, 8, 2]) }
    }

    @Test func anyNonFiniteValueRefusesTheWholeMatrix() throws {
        var sums = Self.ramp(64)
        sums[7] = .infinity
        let matrix = ImportanceMatrix(entries: [
            "blk.0.attn_q.weight": Self.entry(Self.ramp(64)),
            "blk.9.ffn_up.weight": ImportanceMatrix.Entry(columns: 64, sumsOfSquares: sums, counts: [2]),
        ])
        let error = try #require(throws: ConvertError.self) { try ConversionImportance(matrix, file: "bad.gguf") }
        #expect(error.kind == .badImportance)
        #expect(error.item == "blk.9.ffn_up.weight" && error.file == "bad.gguf")
    }

    @Test func outputKeysAsLlamaQuantizeWritesThem() throws {
        let long = String(repeating: "é", count: 100)  // 200 UTF-8 bytes
        var matrix = ImportanceMatrix(entries: ["a.weight": Self.entry([1]), "b.weight": Self.entry([2])],
                                      datasets: [long, "second.txt"], chunkCount: 20, chunkSize: 512)
        var kv = try ConversionImportance(matrix, file: "calib/imatrix.gguf").ggufMetadata
        #expect(kv.map(\.key) == ["quantize.imatrix.file", "quantize.imatrix.dataset",
                                  "quantize.imatrix.entries_count", "quantize.imatrix.chunks_count"])
        #expect(kv[0].value == .string("calib/imatrix.gguf"))
        #expect(kv[1].value == .string(String(repeating: "é", count: 63)))  // cut to 127 bytes
        #expect(kv[2].value == .uint32(2))
        #expect(kv[3].value == .uint32(20))
        matrix.datasets = []
        matrix.chunkCount = 0
        kv = try ConversionImportance(matrix, file: "x.dat").ggufMetadata
        #expect(kv.map(\.key) == ["quantize.imatrix.file", "quantize.imatrix.entries_count"])
        #expect(try ConversionImportance(ImportanceMatrix(), file: "empty.gguf").ggufMetadata.isEmpty)
    }

    @Test func anImportanceMatrixChangesTheFirstFfnDownLayersAsLlamaCpp() throws {
        let tensors = GGUFTypePolicyTests.llamaTensors(layers: 32)
        for (target, without, with) in [(GGMLType.q4_0, GGMLType.q4_0, GGMLType.q4_1), (.q5_0, .q5_0, .q5_1),
                                        (.iq4_xs, .q5_K, .iq4_xs), (.iq4_nl, .q5_K, .iq4_nl)] {
            let plain = try GGUFTypePolicyTests.choices(.uniform(target), tensors, layers: 32, gqa: 1)
            let calibrated = try GGUFTypePolicyTests.choices(.uniform(target), tensors, layers: 32, gqa: 1) {
                $0.hasImportanceMatrix = true
            }
            for i in 0..<32 {
                let name = "blk.\(i).ffn_down.weight"
                #expect(plain[name]?.type == (i < 4 ? without : target), "\(target.name) \(name) without")
                #expect(calibrated[name]?.type == (i < 4 ? with : target), "\(target.name) \(name) with")
                #expect(plain["blk.\(i).attn_v.weight"]?.type == calibrated["blk.\(i).attn_v.weight"]?.type)
            }
        }
        // Mixes other than these are unchanged.
        for target in [GGUFTarget.q4_K_M, .uniform(.q4_1), .uniform(.q3_K)] {
            let plain = try GGUFTypePolicyTests.choices(target, tensors, layers: 32)
            let calibrated = try GGUFTypePolicyTests.choices(target, tensors, layers: 32) { $0.hasImportanceMatrix = true }
            for t in tensors { #expect(plain[t.name]?.type == calibrated[t.name]?.type, "\(target) \(t.name)") }
        }
    }

    @Test func expertRowsTakeTheirOwnVectorAndStripsStopAtExperts() throws {
        let tiny = try TinyCheckpoint()
        defer { tiny.cleanUp() }
        let source = try ModelFile.open(try tiny.write() + "/model.safetensors")  // any source: not read
        let info = TensorInfo(name: "blk.0.ffn_up_exps.weight", type: .ggml(.f32), shape: [3, 4, 32], offset: 0,
                              byteCount: 3 * 4 * 32 * 4, file: "x.gguf")
        var job = TensorJob(input: .tensor(info), outputName: info.name, rows: 12, rowLength: 32, encoding: .encode(GGUFBlockLayout(.q4_0)),
                            rotary: nil, reason: .defaultType,
                            outputs: [PlannedTensor(name: info.name, type: .ggml(.q4_0), shape: [32, 4, 3])])
        job.importance = (0..<96).map(Float.init)
        let runner = JobRunner(job: job, source: source, measureError: false)
        for (row, expert) in [(0, 0), (3, 0), (4, 1), (7, 1), (8, 2), (11, 2)] {
            let (rows, vector) = runner.importanceRows(from: row)
            #expect(rows == (4 * expert)..<(4 * expert + 4))
            #expect(vector.map(Array.init) == (0..<32).map { Float(32 * expert + $0) })
        }
        job.importance = Array(repeating: 1, count: 32)
        let dense = JobRunner(job: job, source: source, measureError: false).importanceRows(from: 5)
        #expect(dense.rows == 0..<12 && dense.vector?.count == 32)
    }

    @Test func convertQuantizesWithEachTensorsVectorAndRecordsTheFile() throws {
        let tiny = try TinyCheckpoint()
        defer { tiny.cleanUp() }
        let dir = try tiny.write()
        let vImportance = Self.ramp(64, seed: 3), downImportance = Self.ramp(128, seed: 0.5)
        let matrix = ImportanceMatrix(entries: [
            "blk.0.attn_v.weight": Self.entry(vImportance),
            "blk.1.ffn_down.weight": Self.entry(downImportance),
            "token_embd.weight": Self.entry([1, 2, 3]),  // wrong length: ignored, as llama.cpp does
            "blk.7.attn_q.weight": Self.entry([1]),  // no such tensor: unused
        ], datasets: ["botchan.txt"], chunkCount: 3, chunkSize: 512)
        let importance = try ConversionImportance(matrix, file: tiny.root + "/calib.imatrix")
        let plan = try ConversionPlan(input: ModelInput(path: dir), output: .ggufFile(tiny.root + "/p.gguf"),
                                      options: { var o = ConversionOptions(target: .gguf(.uniform(.q4_0))); o.importance = importance; return o }())
        #expect(plan.jobs.first { $0.outputName == "blk.0.attn_v.weight" }?.importance == vImportance)
        #expect(plan.jobs.first { $0.outputName == "blk.1.ffn_down.weight" }?.importance == downImportance)
        #expect(plan.jobs.filter { $0.importance != nil }.count == 2)

        let plainPath = tiny.root + "/plain.gguf", weightedPath = tiny.root + "/weighted.gguf"
        try TinyCheckpoint.convert(dir, to: plainPath, target: .gguf(.uniform(.q4_0)))
        try TinyCheckpoint.convert(dir, to: weightedPath, target: .gguf(.uniform(.q4_0))) { $0.importance = importance }
        let plain = try GGUFFile(path: plainPath), weighted = try GGUFFile(path: weightedPath)
        func bytes(_ file: GGUFFile, _ name: String) throws -> [UInt8] {
            let t = try #require(file.tensors.first { $0.name == name })
            return try file.withBytes(of: t) { Array($0) }
        }
        for (gguf, hf, vector, rows, cols) in [("blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight", vImportance, 32, 64),
                                               ("blk.1.ffn_down.weight", "model.layers.1.mlp.down_proj.weight", downImportance, 64, 128)] {
            let values = tiny.values(of: hf, count: rows * cols)
            let want = try TensorEncoder.quantize(values, rowLength: cols, as: .q4_0, importance: vector)
            #expect(try bytes(weighted, gguf) == want, "\(gguf)")
            #expect(try bytes(plain, gguf) == TensorEncoder.quantize(values, rowLength: cols, as: .q4_0))
            #expect(try bytes(plain, gguf) != want)
        }
        // Tensors without an entry are quantized as without the matrix.
        #expect(try bytes(weighted, "blk.0.ffn_up.weight") == bytes(plain, "blk.0.ffn_up.weight"))
        let kv = Dictionary(weighted.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(kv["quantize.imatrix.file"] == .string(tiny.root + "/calib.imatrix"))
        #expect(kv["quantize.imatrix.dataset"] == .string("botchan.txt"))
        #expect(kv["quantize.imatrix.entries_count"] == .uint32(4))
        #expect(kv["quantize.imatrix.chunks_count"] == .uint32(3))
        #expect(!plain.metadata.contains { $0.key.hasPrefix("quantize.imatrix") })
    }

    @Test func nonGGUFTargetsRefuseAnImportanceMatrix() throws {
        let tiny = try TinyCheckpoint()
        defer { tiny.cleanUp() }
        let dir = try tiny.write()
        let importance = try ConversionImportance(ImportanceMatrix(entries: ["blk.0.attn_q.weight": Self.entry(Self.ramp(64))]),
                                                  file: "i.gguf")
        let error = try #require(throws: ConvertError.self) {
            try TinyCheckpoint.convert(dir, to: tiny.root + "/out", target: .float(.F16)) { $0.importance = importance }
        }
        #expect(error.kind == .badOption)
    }
}
