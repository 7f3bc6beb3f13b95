import Foundation
import LowbitCalibrate
import LowbitEval
import LowbitFormats
import Testing

/// The collector against the numpy forward pass (fixtures/eval/make_imatrix_golden.py: float64
/// sums of squared matrix inputs, written with gguf-py) on the tiny models.
@Suite struct ImatrixCollectorTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures/eval").path

    static func tokens() throws -> [Int32] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/tiny-tokens.json"))
        guard case .array(let items) = try JSONValue.parse([UInt8](data)) else { return [] }
        return items.compactMap { $0.intValue.map(Int32.init) }
    }

    static func ggufModel() throws -> LlamaModel {
        let file = try GGUFFile(path: fixtures + "/tiny.gguf")
        return try LlamaModel(source: file, config: try LlamaConfig(gguf: file), naming: .gguf,
                              options: .init(threads: 2, precision: .float32))
    }

    static func huggingFaceModel() throws -> LlamaModel {
        let dir = fixtures + "/tiny-hf"
        let json = try JSONValue.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))))
        return try LlamaModel(source: try SafetensorsCheckpoint(path: dir),
                              config: try LlamaConfig(huggingFace: json, file: dir), naming: .huggingFace,
                              options: .init(threads: 2, precision: .float32))
    }

    /// ‖a − b‖ / ‖b‖.
    static func relativeL2(_ a: [Float], _ b: [Float]) -> Double {
        let diff = zip(a, b).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) }
        let norm = b.reduce(0.0) { $0 + Double($1) * Double($1) }
        return (diff / norm).squareRoot()
    }

    /// Collects over the 40 tokens as one chunk with every position's logits, as the golden file.
    static func collect(_ model: LlamaModel, processOutput: Bool) throws -> ImportanceMatrix {
        let collector = ImatrixCollector(tensorNames: model.config.tensorNames, processOutput: processOutput)
        collector.attach(to: model)
        let tokens = try tokens()
        _ = try model.logits(tokens: tokens, outputPositions: 0..<tokens.count)
        return collector.importanceMatrix(datasets: ["tiny-tokens.json"], chunkCount: 1, chunkSize: tokens.count)
    }

    /// Float32 products against float64 numpy: the sums agree to 1e-5 relative L2 per weight.
    static func expectMatchesGolden(_ ours: ImportanceMatrix, _ golden: ImportanceMatrix,
                                    sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(ours.entries.keys.sorted() == golden.entries.keys.sorted(), sourceLocation: sourceLocation)
        for (name, want) in golden.entries {
            guard let got = ours.entries[name] else { continue }
            #expect(got.columns == want.columns && got.counts == want.counts, "\(name)", sourceLocation: sourceLocation)
            let error = relativeL2(got.sumsOfSquares, want.sumsOfSquares)
            #expect(error < 1e-5, "\(name): relative L2 \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func ggufModelMatchesNumpy() throws {
        let golden = try ImportanceMatrix(contentsOf: Self.fixtures + "/tiny-gguf.imatrix.gguf")
        #expect(golden.entries.count == 15 && golden.entries["output.weight"] != nil)
        let model = try Self.ggufModel()
        Self.expectMatchesGolden(try Self.collect(model, processOutput: true), golden)
        // Without --process-output the head is left out and nothing else changes.
        var withoutHead = golden
        withoutHead.entries["output.weight"] = nil
        Self.expectMatchesGolden(try Self.collect(model, processOutput: false), withoutHead)
    }

    @Test func huggingFaceModelIsCollectedUnderGGUFNames() throws {
        let golden = try ImportanceMatrix(contentsOf: Self.fixtures + "/tiny-hf.imatrix.gguf")
        #expect(golden.entries.count == 14 && golden.entries["blk.1.ffn_down.weight"] != nil)
        // The head is tied to token_embd, which llama.cpp never collects, even with --process-output.
        Self.expectMatchesGolden(try Self.collect(try Self.huggingFaceModel(), processOutput: true), golden)
    }

    @Test func productsOverFewerThan16TokensAreSkipped() throws {
        let model = try Self.ggufModel()
        let collector = ImatrixCollector(tensorNames: model.config.tensorNames, processOutput: true)
        collector.attach(to: model)
        let tokens = try Self.tokens()
        _ = try model.logits(tokens: Array(tokens[0..<15]), outputPositions: 0..<15)
        #expect(collector.collectedNames.isEmpty)
        _ = try model.logits(tokens: Array(tokens[0..<16]), outputPositions: 14..<16)
        // 16 tokens reach every layer; the head sees only the 2 positions asked for.
        #expect(collector.collectedNames.count == 14 && collector.count(of: "blk.0.attn_q.weight") == 16)
        #expect(collector.count(of: "output.weight") == 0)
    }

    @Test func runCountsEveryTokenOfEveryChunkAndScoresLikePerplexity() throws {
        let model = try Self.ggufModel()
        let once = try Self.tokens()
        let tokens = once + once.reversed() + once
        let plan = try ChunkPlan(tokenCount: tokens.count, contextLength: 40, maxChunks: 2, skipChunks: 1, bos: 1)
        var seen: [Int] = []
        let result = try ImatrixRun(model: model, plan: plan, processOutput: true)
            .run(tokens: tokens, dataset: "three.txt") { chunk, _ in seen.append(chunk) }
        #expect(seen == [1, 2] && result.matrix.chunkCount == 2 && result.matrix.chunkSize == 40)
        #expect(result.matrix.datasets == ["three.txt"])
        for (name, entry) in result.matrix.entries { #expect(entry.counts == [80], "\(name)") }
        #expect(model.linearInputObserver == nil, "the observer is detached after the run")
        // The perplexity is the evaluator's over the same chunks (with the head over every
        // position: BLAS may sum 20 rows in another order than 40, so the same run is compared).
        let reference = try PerplexityRun(model: model, plan: plan, outputsEveryPosition: true).run(tokens: tokens)
        #expect(result.perplexity.perplexity == reference.perplexity && result.perplexity.scored == 2 * 19)
        let scoredOnly = try PerplexityRun(model: model, plan: plan).run(tokens: tokens)
        #expect(abs(result.perplexity.perplexity - scoredOnly.perplexity) < 1e-3 * scoredOnly.perplexity)
        // The chunks are the second and third: their sums are those of two separate passes.
        let collector = ImatrixCollector(tensorNames: model.config.tensorNames, processOutput: true)
        collector.attach(to: model)
        for c in 0..<2 { _ = try model.logits(tokens: plan.tokens(ofChunk: c, from: tokens), outputPositions: 0..<40) }
        let direct = collector.importanceMatrix(datasets: ["three.txt"], chunkCount: 2, chunkSize: 40)
        #expect(direct == result.matrix)
    }
}
