import LowbitEval

/// One calibration method run layer by layer (GPTQ today; AWQ could be another): given the
/// inputs of a decoder layer on every calibration chunk, it observes the layer, computes its new
/// weights and installs them in the model (``LlamaModel/overrideWeight(name:values:)``) before the
/// pipeline propagates the layer's outputs.
public protocol LayerCalibrationMethod {
    /// Calibrates decoder layer `index` of `model` on `inputs` (each chunk's state before the
    /// layer, which the method must not change) and installs its weights in `model`.
    func calibrate(layer index: Int, of model: LlamaModel, inputs: [HiddenState]) throws
}

/// llm-compressor's sequential pipeline over a ``LlamaModel``: every calibration chunk is
/// embedded once and kept in memory as a ``HiddenState``; then, decoder layer by decoder layer,
/// the method calibrates the layer on the chunks' states (``LayerCalibrationMethod``) and the
/// layer runs again, with the weights the method installed, to make the next layer's inputs.
/// The quantized layers' outputs propagate, so each layer is calibrated on the inputs it will
/// see in the quantized model.
///
/// Memory: the chunks' states (`chunks × ctx × embedding` floats) plus what the method keeps for
/// one layer.
public struct SequentialPipeline {
    /// The model whose layers are calibrated (its weights are overridden as the pipeline goes).
    public let model: LlamaModel
    /// The calibration chunks (the evaluator's chunking).
    public let plan: ChunkPlan

    /// A pipeline over `plan`'s chunks of the text, run through `model`.
    public init(model: LlamaModel, plan: ChunkPlan) {
        self.model = model
        self.plan = plan
    }

    /// Runs `method` over every decoder layer of the model on the chunks of `tokens`; `progress`
    /// gets the number of layers done (from 1) after each layer. Returns the states after the
    /// last layer.
    @discardableResult
    public func run(tokens: [Int32], method: some LayerCalibrationMethod,
                    progress: (Int) -> Void = { _ in }) throws -> [HiddenState] {
        var states = try (0..<plan.chunkCount).map { try model.embed(plan.tokens(ofChunk: $0, from: tokens)) }
        let previous = model.linearInputObserver
        defer { model.linearInputObserver = previous }
        for layer in 0..<model.layerCount {
            try method.calibrate(layer: layer, of: model, inputs: states)
            model.linearInputObserver = nil
            for i in states.indices { try model.runLayer(layer, on: &states[i]) }
            progress(layer + 1)
        }
        return states
    }
}
