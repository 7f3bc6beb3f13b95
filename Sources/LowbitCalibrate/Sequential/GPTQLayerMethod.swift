import LowbitEval
import LowbitModels
import LowbitQuant

/// GPTQ as a ``LayerCalibrationMethod``: for one decoder layer, collects the Hessians of its
/// linears' inputs (``HessianAccumulator``: q/k/v share one, gate/up one, o and down their own),
/// quantizes the 7 linears with ``GPTQ``, installs the dequantized weights in the model, and
/// hands each result to ``sink``.
///
/// The grid of each linear comes from ``quantizer``: the conversion's layout for that tensor
/// (its group size may fall back where the rows are too short); a linear without a quantizer
/// is left as it is. The output head and the embeddings are never quantized here
/// (llm-compressor ignores `lm_head`).
public struct GPTQLayerMethod: LayerCalibrationMethod {
    /// Makes the solver (dampening, block size, column order, scale timing) for a tensor's grid.
    public var solver: (IntGroupQuantizer) -> GPTQ
    /// The grid of the tensor named (as the model's file names it), or nil to leave it.
    public var quantizer: (String) -> IntGroupQuantizer?
    /// Receives each quantized tensor's name (as the model's file names it; rows in the file's
    /// order), its grid and GPTQ's output, in layer order.
    public var sink: (String, IntGroupQuantizer, GPTQ.Output) throws -> Void

    /// GPTQ with the solvers `solver` makes, on the grids `quantizer` gives, delivering to `sink`.
    public init(solver: @escaping (IntGroupQuantizer) -> GPTQ, quantizer: @escaping (String) -> IntGroupQuantizer?,
                sink: @escaping (String, IntGroupQuantizer, GPTQ.Output) throws -> Void) {
        self.solver = solver
        self.quantizer = quantizer
        self.sink = sink
    }

    /// The linears of layer `index` grouped by the input they multiply, each group's leader first.
    public static func sharedInputs(layer index: Int, naming: TensorNaming) -> [[String]] {
        [[.query, .key, .value], [.attentionOutput], [.gate, .up], [.down]].map { roles in
            roles.map { naming.layer(index, $0) }
        }
    }

    /// The Hessians of layer `index`'s linear inputs on `inputs` (the layer runs on copies).
    public static func hessians(layer index: Int, of model: LlamaModel, inputs: [HiddenState]) throws -> HessianAccumulator {
        let accumulator = HessianAccumulator(groups: sharedInputs(layer: index, naming: model.naming),
                                             threads: model.options.threads)
        let previous = model.linearInputObserver
        model.linearInputObserver = { name, input in accumulator.observe(tensor: name, input: input) }
        defer { model.linearInputObserver = previous }
        for state in inputs {
            var copy = state
            try model.runLayer(index, on: &copy)
        }
        return accumulator
    }

    /// Collects layer `index`'s Hessians, quantizes its linears and installs them in `model`.
    public func calibrate(layer index: Int, of model: LlamaModel, inputs: [HiddenState]) throws {
        let accumulator = try Self.hessians(layer: index, of: model, inputs: inputs)
        for name in Self.sharedInputs(layer: index, naming: model.naming).joined() {
            guard let q = quantizer(name) else { continue }
            guard let (_, columns) = model.weightShape(name: name), var hessian = accumulator.hessian(for: name) else {
                throw EvalError(.missingTensor, file: model.source.path, item: name, "no calibration input reached this linear")
            }
            let gptq = solver(q)
            if gptq.scaleTiming == .groupStart && q.groupSize < columns && gptq.blockSize % q.groupSize != 0 {
                throw EvalError(.badConfig, file: model.source.path, item: name,
                                "group-start scales need a GPTQ block size (\(gptq.blockSize)) that is a multiple of the group size \(q.groupSize)")
            }
            let weights = try model.weightValues(name: name)
            let output = try weights.withUnsafeBufferPointer { w in
                try hessian.withUnsafeMutableBufferPointer { h in try gptq.quantize(w, columns: columns, hessian: h, name: name) }
            }
            try model.overrideWeight(name: name, values: q.dequantize(output.result, rowLength: columns))
            try sink(name, q, output)
        }
    }
}
