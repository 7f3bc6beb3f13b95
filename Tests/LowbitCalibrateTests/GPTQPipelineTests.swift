import Foundation
import LowbitCalibrate
import LowbitEval
import LowbitFormats
import LowbitQuant
import Testing

/// The sequential GPTQ pipeline on the tiny Hugging Face model (fixtures/eval/tiny-hf: 2 layers,
/// 64 wide, 128 feed-forward, GQA 4/2): Hessians against an independent Double computation from
/// the captured inputs, and the propagation of quantized outputs.
@Suite struct GPTQPipelineTests {
    static func model(cache: Int = 2 << 30) throws -> LlamaModel {
        let dir = ImatrixCollectorTests.fixtures + "/tiny-hf"
        let json = try JSONValue.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))))
        return try LlamaModel(source: try SafetensorsCheckpoint(path: dir),
                              config: try LlamaConfig(huggingFace: json, file: dir), naming: .huggingFace,
                              options: .init(threads: 2, weightCacheBytes: cache, precision: .float32))
    }

    /// Two chunks of 20 of the 40 fixture tokens.
    static func chunks() throws -> (tokens: [Int32], plan: ChunkPlan) {
        let tokens = try ImatrixCollectorTests.tokens()
        return (tokens, try ChunkPlan(tokenCount: tokens.count, contextLength: 20, bos: nil, file: "tiny-tokens.json"))
    }

    static let grid = IntGroupQuantizer(bits: 4, groupSize: 32, convention: .compressedTensors(symmetric: true))

    @Test func hessiansAreTwiceXTransposeXOfTheCapturedInputsSharedPerInput() throws {
        let model = try Self.model()
        let (tokens, plan) = try Self.chunks()
        var states = try (0..<plan.chunkCount).map { try model.embed(plan.tokens(ofChunk: $0, from: tokens)) }
        for layer in 0..<model.layerCount {
            // Capture every linear's input rows independently of the accumulator.
            var captured: [String: [[Float]]] = [:]
            model.linearInputObserver = { name, input in
                for r in 0..<input.rows { captured[name, default: []].append(input.withRow(r) { Array($0) }) }
            }
            for state in states { var copy = state; try model.runLayer(layer, on: &copy) }
            model.linearInputObserver = nil
            let accumulator = try GPTQLayerMethod.hessians(layer: layer, of: model, inputs: states)
            let names = GPTQLayerMethod.sharedInputs(layer: layer, naming: model.naming)
            #expect(names.map(\.count) == [3, 1, 2, 1])
            for name in names.joined() {
                let rows = try #require(captured[name])
                #expect(rows.count == tokens.count, "\(name)")
                let n = rows[0].count
                var reference = [Double](repeating: 0, count: n * n)
                for x in rows { for i in 0..<n { for j in 0..<n { reference[i * n + j] += 2 * Double(x[i]) * Double(x[j]) } } }
                let h = try #require(accumulator.hessian(for: name))
                let scale = reference.map(abs).max()!
                let error = zip(h, reference).map { abs($0 - $1) }.max()!
                #expect(error <= 1e-12 * scale, "\(name): max error \(error) of \(scale)")
                // Counted once per shared input, not once per linear.
                #expect(accumulator.tokenCount(for: name) == tokens.count, "\(name)")
            }
            for group in names where group.count > 1 {
                let first = accumulator.hessian(for: group[0])
                for name in group.dropFirst() { #expect(accumulator.hessian(for: name) == first, "\(name)") }
            }
            for i in states.indices { try model.runLayer(layer, on: &states[i]) }
        }
    }

    /// Records the inputs each layer was calibrated on, then runs GPTQ.
    final class Recording: LayerCalibrationMethod {
        let inner: GPTQLayerMethod
        var inputs: [Int: [HiddenState]] = [:]
        init(_ inner: GPTQLayerMethod) { self.inner = inner }
        func calibrate(layer index: Int, of model: LlamaModel, inputs: [HiddenState]) throws {
            self.inputs[index] = inputs
            try inner.calibrate(layer: index, of: model, inputs: inputs)
        }
    }

    @Test func layerOneSeesTheOutputsOfTheQuantizedLayerZero() throws {
        let model = try Self.model()
        let (tokens, plan) = try Self.chunks()
        final class Sink { var dequantized: [String: [Float]] = [:]; var order: [String] = [] }
        let sink = Sink()
        let method = Recording(GPTQLayerMethod(
            solver: { GPTQ(quantizer: $0, threads: 2) },
            quantizer: { _ in Self.grid },
            sink: { name, q, output in
                let columns = model.weightShape(name: name)!.columns
                sink.dequantized[name] = q.dequantize(output.result, rowLength: columns)
                sink.order.append(name)
            }))
        let final = try SequentialPipeline(model: model, plan: plan).run(tokens: tokens, method: method)
        #expect(sink.order.count == 7 * model.layerCount)
        #expect(final.allSatisfy { $0.layersDone == model.layerCount })
        let layer0 = GPTQLayerMethod.sharedInputs(layer: 0, naming: model.naming).joined()
        for name in layer0 { #expect(try model.weightValues(name: name) == sink.dequantized[name], "\(name)") }

        // A plain forward pass of a fresh model whose layer 0 holds the dequantized GPTQ weights
        // (its cache filled first, so the override must drop the cached copies).
        let fresh = try Self.model()
        let recorded = try #require(method.inputs[1])
        var plainOutputs: [[Float]] = []
        for c in 0..<plan.chunkCount {
            var state = try fresh.embed(plan.tokens(ofChunk: c, from: tokens))
            try fresh.runLayer(0, on: &state)
            plainOutputs.append(state.values)
        }
        for name in layer0 { try fresh.overrideWeight(name: name, values: try #require(sink.dequantized[name])) }
        for c in 0..<plan.chunkCount {
            var state = try fresh.embed(plan.tokens(ofChunk: c, from: tokens))
            try fresh.runLayer(0, on: &state)
            #expect(state.values == recorded[c].values, "chunk \(c)")
            // And the unquantized layer 0 gives other inputs: the test can tell them apart.
            #expect(plainOutputs[c] != recorded[c].values)
        }
    }

    @Test func overrideIsRefusedForUnknownTensorsAndWrongSizes() throws {
        let model = try Self.model()
        #expect(throws: EvalError.self) { try model.overrideWeight(name: "model.layers.9.mlp.up_proj.weight", values: [0]) }
        #expect(throws: EvalError.self) { try model.overrideWeight(name: "model.layers.0.mlp.up_proj.weight", values: [0]) }
    }
}
