import ArgumentParser
import LowbitConvert
import LowbitFormats

/// `lowbit verify`: re-read an output end to end.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-read a model end to end: every tensor decodes, sizes agree, no NaN or Inf.",
        discussion: "Exits 0 when the model is sound, 1 when any problem is found (each is printed).")

    @Argument(help: "A GGUF file, safetensors file or checkpoint directory.")
    var path: String

    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false

    func run() throws {
        let bar = ProgressBar(title: "verify", totalItems: 0, totalBytes: 0)
        var last = 0
        let (checked, problems) = try Verifier(path: path).run { done, _ in
            bar.advance(items: done - last, bytes: 0)
            last = done
        }
        bar.finish()
        if json {
            let result: JSONValue = .object([
                ("path", .string(path)), ("tensors", .integer(Int64(checked))), ("ok", .bool(problems.isEmpty)),
                ("problems", .array(problems.map { .string($0.description) })),
            ])
            print(result.serialized(pretty: true))
        } else {
            for p in problems { print("problem: \(p)") }
            print(problems.isEmpty ? "ok: \(checked) tensors verified in \(path)" : "\(problems.count) problems in \(path)")
        }
        if !problems.isEmpty { throw ExitCode(1) }
    }
}
