import Foundation
import LowbitFormats
import LowbitQuant
import LowbitSystem

/// `--target-bpw` / `--target-size` for GGUF outputs: chooses each quantizable tensor's type
/// among candidates to minimise the total predicted loss (``TypeCost``) within the budget
/// (``BudgetAllocator``), and hands the choices to the plan (``ConversionOptions/assignedTypes``).
///
/// Which tensors are chosen: every tensor the `--type` target would quantize, except the token
/// embedding and the output head (they keep the target's choice, as in llama.cpp's mixes: the
/// embedding is a lookup and the head has no importance entry to weigh it by) and the tensors a
/// user rule fixes (`--keep`, `--tensor-type`, `--output-tensor-type`,
/// `--token-embedding-type`). Their bytes, and those of every unquantized tensor, are taken out
/// of the budget first.
public struct GGUFBudget: Sendable {
    /// The size aimed for.
    public var budget: BitBudget
    /// Candidate types, before llama.cpp's per-shape fallbacks.
    public var candidates: [GGMLType]
    /// The cost measurement.
    public var measurement = TypeCostMeasurement()

    /// llama.cpp's K-quants and Q8_0: the types its own mixes are made of.
    public static let defaultCandidates: [GGMLType] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_0]

    /// A budget over `candidates`.
    public init(budget: BitBudget, candidates: [GGMLType] = Self.defaultCandidates) {
        self.budget = budget
        self.candidates = candidates
    }

    /// One tensor's choice.
    public struct Choice: Sendable {
        /// The GGUF name.
        public var name: String
        /// Every candidate's cost, and which was chosen.
        public var costs: [TypeCost]
        /// The index of the chosen cost.
        public var chosen: Int

        /// The chosen type, bytes and loss.
        public var cost: TypeCost { costs[chosen] }
    }

    /// What the allocation decided.
    public struct Result: Sendable {
        /// The chosen tensors, in file order.
        public var choices: [Choice]
        /// Parameters of every tensor written.
        public var parameters: Int
        /// Tensor-data bytes of the tensors not chosen here.
        public var fixedBytes: Int
        /// The budget in tensor-data bytes.
        public var budgetBytes: Int
        /// Seconds spent measuring costs.
        public var seconds: Double

        /// Tensor-data bytes of the output.
        public var totalBytes: Int { fixedBytes + choices.reduce(0) { $0 + $1.cost.bytes } }
        /// Bits per weight achieved (tensor data over all parameters).
        public var bitsPerWeight: Double { Double(totalBytes) * 8 / Double(max(1, parameters)) }
        /// Total predicted loss of the chosen tensors.
        public var predictedLoss: Double { choices.reduce(0) { $0 + $1.cost.loss } }
        /// The types assigned, by GGUF name.
        public var assignments: [String: GGMLType] {
            Dictionary(uniqueKeysWithValues: choices.map { ($0.name, $0.cost.type) })
        }
    }

    /// Whether a planned job is the budget's to choose.
    public static func isChosen(_ job: TensorJob) -> Bool {
        guard case .tensor = job.input, let shape = job.outputs.first?.shape,
              GGUFTypePolicy.isQuantizable(name: job.outputName, dimensions: shape.count) else { return false }
        switch TensorRole(ggufName: job.outputName) {
        case .tokenEmbedding, .output: return false
        default: break
        }
        switch job.reason {
        case .defaultType, .mix, .fallback: return true
        case .notQuantizable, .override, .budget: return false
        }
    }

    /// Measures and allocates for `plan` (a GGUF plan of the `--type` target, made without
    /// assigned types); `progress` gets the number of tensors measured.
    ///
    /// - Throws: ``ConvertError`` (`.badOption`) naming the output when the budget is below the
    ///   smallest choice (the message gives the smallest size reachable), and measurement errors.
    public func allocate(for plan: ConversionPlan, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                         progress: @escaping @Sendable (Int) -> Void = { _ in }) throws -> Result {
        let start = Date()
        let parameters = plan.jobs.reduce(0) { $0 + ($1.outputs.first?.shape.reduce(1, *) ?? 0) }
        let chosen = plan.jobs.filter(Self.isChosen)
        let fixed = plan.jobs.filter { !Self.isChosen($0) }.reduce(0) { $0 + $1.outputBytes }
        let budgetBytes = budget.bytes(parameters: parameters)
        let costs = LockedValueBox([[TypeCost]](repeating: [], count: chosen.count))
        let done = LockedValueBox(0)
        let source = plan.input.source
        let importance = plan.options.importance
        try Parallel.forRangesThrowing(chosen.count, threads: threads) { range in
            for i in range {
                let job = chosen[i]
                guard case .tensor(let t) = job.input else { continue }
                let shape = job.outputs[0].shape
                let types = TypeCostMeasurement.candidates(candidates, rowLength: job.rowLength)
                let c = try measurement.costs(of: t, in: source, name: job.outputName, candidates: types,
                                              importance: try importance?.weights(for: job.outputName, shape: shape))
                costs.withLockedValue { $0[i] = c }
                progress(done.withLockedValue { $0 += 1; return $0 })
            }
        }
        let measured = costs.withLockedValue { $0 }
        let items = measured.map { $0.map { BudgetAllocator.Option(bytes: $0.bytes, loss: $0.loss) } }
        let picks: [Int]
        do {
            picks = try BudgetAllocator.allocate(items, budget: budgetBytes - fixed)
        } catch BudgetAllocator.Failure.budgetTooSmall(let minimum) {
            let least = Double(fixed + minimum) * 8 / Double(max(1, parameters))
            throw ConvertError.badOption(
                "the budget of \(budgetBytes) bytes (\(budget.description)) is below the smallest choice of the candidates: "
                + "\(fixed + minimum) bytes, \(String(format: "%.3f", least)) bits per weight", file: plan.output.path)
        }
        let choices = chosen.indices.map { Choice(name: chosen[$0].outputName, costs: measured[$0], chosen: picks[$0]) }
        return Result(choices: choices, parameters: parameters, fixedBytes: fixed, budgetBytes: budgetBytes,
                      seconds: Date().timeIntervalSince(start))
    }
}
