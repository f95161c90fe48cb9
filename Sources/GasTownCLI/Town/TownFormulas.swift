import Formula
import Foundation

/// The formulas a town sees, as Gas Town searches them: `<town>/.beads/formulas/<name>.formula.toml` first, then the
/// built-in ones (`BuiltinFormulas`, then our `PatrolFormulas`). The one place that reads formula files from disk; the `Formula` core only
/// sees their bytes.
public enum TownFormulas {
    /// `<town>/.beads/formulas`.
    public static func directory(town: String) -> String { town + "/.beads/formulas" }

    /// Reads every `*.formula.toml` of `directory` (none when it does not exist). Blocking: call it from
    /// `BlockingWork.run`.
    public static func read(directory: String) throws(CLIError) -> InMemoryFormulaSource {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            return InMemoryFormulaSource([], location: directory)
        }
        var texts: [FormulaText] = []
        for file in names.sorted() where file.hasSuffix(".formula.toml") {
            let path = directory + "/" + file
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CLIError("cannot read \(path)", hint: "check its permissions", code: "unreadable")
            }
            texts.append(
                FormulaText(name: String(file.dropLast(".formula.toml".count)), file: path, bytes: [UInt8](data)))
        }
        return InMemoryFormulaSource(texts, location: directory)
    }

    /// The town's library: its formula directory over the built-ins, read off the cooperative pool.
    public static func library(
        town: String, settings: FormulaSettings = FormulaSettings()
    ) async throws(CLIError)
        -> FormulaLibrary
    {
        let local = try await BlockingWork.run { () throws(CLIError) in try read(directory: directory(town: town)) }
        return FormulaLibrary(
            source: LayeredFormulaSource([local, BuiltinFormulas(), PatrolFormulas()]), settings: settings)
    }
}
