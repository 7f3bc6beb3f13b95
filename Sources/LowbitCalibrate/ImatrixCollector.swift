import LowbitEval
import LowbitFormats
import LowbitModels

/// Collects an importance matrix from a model's forward passes, exactly as llama.cpp's
/// `llama-imatrix` defines it (`tools/imatrix/imatrix.cpp`; see `formats/imatrix.md`):
///
/// - only products by decoder-layer weights (`blk.*` in GGUF names) are collected, and the
///   output head `output.weight` only with `processOutput`; `token_embd.weight` never, so a tied
///   head is never collected;
/// - a product over fewer than ``minimumRows`` rows (tokens) is skipped;
/// - per weight, each input column's squared activation is summed over the rows, and the count
///   grows by the rows.
///
/// Entries are keyed by GGUF names whatever the model's file layout (Hugging Face names are
/// translated with the architecture's ``LowbitModels/TensorNameTable``). Sums accumulate in Double and are stored
/// as F32 by ``importanceMatrix(datasets:chunkCount:chunkSize:)``.
///
/// Attach it to one model with ``attach(to:)``; it is fed on that model's thread of control.
public final class ImatrixCollector {
    /// llama.cpp skips products over fewer rows than this.
    public static let minimumRows = 16

    /// Whether `output.weight` is collected (`--process-output`).
    public let processOutput: Bool
    /// The architecture's names, which translate Hugging Face names to GGUF names.
    public let tensorNames: TensorNameTable
    private var sums: [String: [Double]] = [:]
    private var counts: [String: Int] = [:]

    /// An empty collector for a model of the architecture named by `tensorNames`
    /// (`LlamaConfig.tensorNames`).
    public init(tensorNames: TensorNameTable, processOutput: Bool = false) {
        self.tensorNames = tensorNames
        self.processOutput = processOutput
    }

    /// Makes `model` report every linear layer's input to this collector (replacing any other
    /// observer).
    public func attach(to model: LlamaModel) {
        model.linearInputObserver = { [self] name, input in observe(tensor: name, input: input) }
    }

    /// The GGUF name a product by the tensor `name` (as the model's file names it) is collected
    /// under, or nil when llama.cpp does not collect it.
    public func collectedName(for name: String) -> String? {
        // A GGUF name is no Hugging Face name, so it stays as it is.
        let gguf = tensorNames.ggufName(forHF: name) ?? name
        if gguf.hasPrefix("blk.") { return gguf }
        if processOutput && gguf == tensorNames.name(.output, gguf: true) { return gguf }
        return nil
    }

    /// Adds one product's input rows (the observer body).
    public func observe(tensor name: String, input: LinearLayerInput) {
        guard input.rows >= Self.minimumRows, let key = collectedName(for: name) else { return }
        var row = sums.removeValue(forKey: key) ?? [Double](repeating: 0, count: input.columns)
        precondition(row.count == input.columns, "\(key) has \(input.columns) input columns, earlier \(row.count)")
        input.accumulateColumnSumsOfSquares(into: &row)
        sums[key] = row
        counts[key, default: 0] += input.rows
    }

    /// The weights collected so far, in name order.
    public var collectedNames: [String] { sums.keys.sorted() }

    /// Tokens counted for the weight named `name` (GGUF name).
    public func count(of name: String) -> Int { counts[name] ?? 0 }

    /// What was collected, as an importance matrix of F32 sums.
    public func importanceMatrix(datasets: [String], chunkCount: Int, chunkSize: Int) -> ImportanceMatrix {
        var entries: [String: ImportanceMatrix.Entry] = [:]
        for (name, row) in sums {
            entries[name] = .init(columns: row.count, sumsOfSquares: row.map { Float($0) },
                                  counts: [Float(counts[name] ?? 0)])
        }
        return ImportanceMatrix(entries: entries, datasets: datasets, chunkCount: chunkCount, chunkSize: chunkSize)
    }
}
