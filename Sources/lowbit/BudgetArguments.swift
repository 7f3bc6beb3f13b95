import ArgumentParser
import Foundation
import LowbitConvert
import LowbitFormats

/// `convert`'s byte-budget options (`--target-bpw`, `--target-size`): each tensor's GGUF type
/// chosen for the least predicted loss within the size.
struct BudgetArguments: ParsableArguments {
    @Option(help: ArgumentHelp(
        "GGUF: choose each tensor's type for the least predicted loss at this many bits per weight (tensor data over all parameters, as llama-quantize reports it).",
        discussion: "The token embedding, the output head and tensors fixed by --keep/--tensor-type keep --type's choice; give --imatrix or --calibration so the loss weighs each column by its activations."))
    var targetBpw: Double?

    @Option(help: "GGUF: like --target-bpw, for a tensor-data size: bytes, or KB/MB/GB (powers of 1000) and KiB/MiB/GiB (powers of 1024).")
    var targetSize: String?

    @Option(help: "Candidate types for --target-bpw/--target-size, comma-separated (default q2_k,q3_k,q4_k,q5_k,q6_k,q8_0; rows a type's block does not divide use llama.cpp's fallback).")
    var candidates: String?

    /// Whether a budget was asked for.
    var isRequested: Bool { targetBpw != nil || targetSize != nil }

    func validate() throws {
        if targetBpw != nil && targetSize != nil { throw ValidationError("give --target-bpw or --target-size, not both") }
        if let b = targetBpw, !(b > 0 && b <= 32) { throw ValidationError("--target-bpw must be above 0 and at most 32, not \(b)") }
        if let s = targetSize { _ = try Convert.parseSize(s, option: "--target-size") }
        if candidates != nil && !isRequested { throw ValidationError("--candidates needs --target-bpw or --target-size") }
        _ = try candidateTypes()
    }

    /// The budget asked for.
    func budget() throws -> BitBudget? {
        if let b = targetBpw { return .bitsPerWeight(b) }
        if let s = targetSize { return .bytes(try Convert.parseSize(s, option: "--target-size")) }
        return nil
    }

    /// The candidate types.
    func candidateTypes() throws -> [GGMLType] {
        guard let candidates else { return GGUFBudget.defaultCandidates }
        let names = candidates.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw ValidationError("--candidates lists no type") }
        return try names.map { name in
            guard let t = GGMLType(name: name), GGUFTarget.uniformTypes.contains(t) else {
                throw ValidationError("--candidates: '\(name)' is not a GGUF type Lowbit writes (\(GGUFTarget.uniformTypes.map { $0.name.lowercased() }.joined(separator: ", ")))")
            }
            return t
        }
    }

    /// The allocation's report for `--json`: the target, what was achieved, and every chosen
    /// tensor's type, bytes and predicted loss beside its candidates.
    static func json(_ r: GGUFBudget.Result, budget: BitBudget) -> JSONValue {
        var target: [(String, JSONValue)] = []
        switch budget {
        case .bitsPerWeight(let b): target.append(("bits_per_weight", .number(b)))
        case .bytes(let b): target.append(("bytes", .integer(Int64(b))))
        }
        return .object([
            ("target", .object(target)),
            ("budget_bytes", .integer(Int64(r.budgetBytes))),
            ("tensor_bytes", .integer(Int64(r.totalBytes))),
            ("bits_per_weight", .number(r.bitsPerWeight)),
            ("parameters", .integer(Int64(r.parameters))),
            ("predicted_loss", .number(r.predictedLoss)),
            ("measure_seconds", .number(r.seconds)),
            ("tensors", .array(r.choices.map { c in
                .object([("name", .string(c.name)), ("type", .string(c.cost.type.name)),
                         ("bytes", .integer(Int64(c.cost.bytes))), ("predicted_loss", .number(c.cost.loss)),
                         ("candidates", .array(c.costs.map { k in
                             .object([("type", .string(k.type.name)), ("bytes", .integer(Int64(k.bytes))),
                                      ("predicted_loss", .number(k.loss))])
                         }))])
            })),
        ])
    }

    /// One line per type for people: how many tensors the budget gave it.
    static func text(_ r: GGUFBudget.Result) -> String {
        var counts: [String: Int] = [:]
        for c in r.choices { counts[c.cost.type.name, default: 0] += 1 }
        let mix = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        return String(format: "budget: %.3f bits per weight (%d of %d bytes), %@; predicted loss %.4g; costs measured in %.1f s",
                      r.bitsPerWeight, r.totalBytes, r.budgetBytes, mix, r.predictedLoss, r.seconds)
    }
}
