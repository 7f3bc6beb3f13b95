import ArgumentParser
import Foundation
import LowbitCalibrate
import LowbitConvert
import LowbitEval
import LowbitFormats
import LowbitQuant
import LowbitSystem

extension GPTQ.ActivationOrder: ExpressibleByArgument {}
extension GPTQ.ScaleTiming: ExpressibleByArgument {}

/// `convert --method gptq`'s solver options (llm-compressor's defaults).
struct GPTQArguments: ParsableArguments {
    @Option(help: "GPTQ: fraction of the mean Hessian diagonal added to the diagonal.")
    var dampening: Double = 0.01

    @Option(name: .customLong("gptq-block-size"), help: "GPTQ: columns per lazy batch update.")
    var blockSize: Int = 128

    @Option(help: ArgumentHelp(
        "GPTQ column order: weight (descending Hessian diagonal, groups kept contiguous: llm-compressor's static order) or none.",
        valueName: "order"))
    var actorder: GPTQ.ActivationOrder = .weight

    @Option(help: ArgumentHelp(
        "GPTQ group scales: original (from the original weights, before the loop: llm-compressor) or group-start (at each group's first column, from the updated weights: the original GPTQ; needs --actorder none).",
        valueName: "timing"))
    var scaleTiming: GPTQ.ScaleTiming = .original

    func validate() throws {
        guard dampening >= 0, dampening.isFinite else { throw ValidationError("--dampening must be a finite fraction >= 0") }
        guard blockSize >= 1 else { throw ValidationError("--gptq-block-size must be at least 1") }
        if scaleTiming == .groupStart && actorder != .none {
            throw ValidationError("--scale-timing group-start needs --actorder none (with activation order the scales come from the original weights)")
        }
    }

    /// What GPTQ adds to the compressed-tensors `weights` arguments: the column order
    /// (compressed-tensors' `actorder` "weight", which needs no `g_idx`).
    var weightsArguments: [(key: String, value: JSONValue)] {
        [("actorder", actorder == .weight ? .string("weight") : .null)]
    }
}

/// What a GPTQ calibration run did, for the summary.
struct GPTQRunReport {
    var chunks: Int
    var tokens: Int
    var context: Int
    var tensors: Int
    var seconds: Double
    var fallbacks: [String]

    func json(_ gptq: GPTQArguments) -> JSONValue {
        .object([
            ("method", .string("gptq")),
            ("chunks", .integer(Int64(chunks))),
            ("tokens", .integer(Int64(tokens))),
            ("ctx", .integer(Int64(context))),
            ("tensors", .integer(Int64(tensors))),
            ("rounded_to_nearest", .array(fallbacks.map { .string($0) })),
            ("dampening", .number(gptq.dampening)),
            ("block_size", .integer(Int64(gptq.blockSize))),
            ("actorder", .string(gptq.actorder.rawValue)),
            ("scale_timing", .string(gptq.scaleTiming.rawValue)),
            ("seconds", .number(seconds)),
        ])
    }
}

extension CalibrationArguments {
    /// Runs GPTQ layer by layer over the model at `path` (the conversion's input) on the
    /// calibration text, with each linear's grid taken from `plan`'s INT layout for it, and
    /// spills each result into a temporary directory beside `output` for the converter.
    func gptqEncodings(model path: String, plan: ConversionPlan, gptq: GPTQArguments, output: String,
                       quiet: Bool) throws -> (SpilledEncodings, GPTQRunReport) {
        let start = DispatchTime.now()
        var grids: [String: IntGroupQuantizer] = [:]
        for job in plan.jobs {
            if case .tensor(let t) = job.input, let layout = job.encoding.layout as? any IntGroupWeightLayout {
                grids[t.name] = layout.quantizer
            }
        }
        let (loaded, tokens, chunks) = try load(model: path)
        let model = loaded.model
        if !quiet {
            Console.err("calibration: \(tokens.count) tokens of \(calibration!), \(chunks.chunkCount) chunks of \(chunks.contextLength)\n")
        }
        let store = try SpilledEncodings(method: "gptq", weightsArguments: gptq.weightsArguments, output: output)
        var tensors = 0
        var fallbacks: [String] = []
        let method = GPTQLayerMethod(
            solver: { q in
                GPTQ(quantizer: q, dampening: gptq.dampening, blockSize: gptq.blockSize, activationOrder: gptq.actorder,
                     scaleTiming: gptq.scaleTiming, threads: model.options.threads)
            },
            quantizer: { grids[$0] },
            sink: { name, q, output in
                let (rows, columns) = model.weightShape(name: name)!
                try store.store(output.result, for: name, quantizer: q, rows: rows, columns: columns)
                tensors += 1
                if output.roundedToNearest { fallbacks.append(name) }
            })
        let bar = ProgressBar(title: "gptq", totalItems: model.layerCount, totalBytes: 0, unit: "layers")
        do {
            try SequentialPipeline(model: model, plan: chunks).run(tokens: tokens, method: method) { _ in
                bar.advance(bytes: 0)
            }
        } catch {
            store.remove()
            throw error
        }
        bar.finish()
        for name in fallbacks {
            ErrorReporter.printError("lowbit: note: \(name): the dampened Hessian is not positive definite; rounded to nearest")
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return (store, GPTQRunReport(chunks: chunks.chunkCount, tokens: chunks.chunkCount * chunks.contextLength,
                                     context: chunks.contextLength, tensors: tensors, seconds: seconds, fallbacks: fallbacks))
    }
}
