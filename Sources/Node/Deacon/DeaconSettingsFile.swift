import Foundation
import Health
import Town

/// The Deacon's settings of a node: the node's `NodeSettings.deacon` and `.dogs`, overridden by
/// `<town>/settings/deacon.json` (each node has its own town directory, so this is per node). A JSON object whose
/// keys are: `give_up_after`, `dog_escalate_after`, `stale_after`, `first_run_fraction`, `cleanup_disk_budget`
/// (bytes), `doctor_minimum_free_bytes`, `repack_minimum_loose_objects`, and `dogs` (an object of Dog name → interval in seconds; 0 stops that
/// Dog), e.g. `{"cleanup_disk_budget": 2147483648, "dogs": {"checkpoint": 120}}`. A caseless namespace; the one
/// reader of that file.
public enum DeaconSettingsFile {
    /// The file of `layout`.
    public static func path(_ layout: TownLayout) -> String { layout.root + "/settings/deacon.json" }

    /// `deacon` and `dogs` with the file's values applied (unchanged when there is no file). A file that is not a
    /// JSON object, a value of the wrong type, a Dog name that does not exist or an unknown key is an error naming
    /// the file and the key (a typo must not silently leave a default).
    public static func load(
        _ layout: TownLayout, deacon: DeaconSettings, dogs: DogSettings
    ) throws(TownError)
        -> (DeaconSettings, DogSettings)
    {
        let file = path(layout)
        guard let data = FileManager.default.contents(atPath: file) else { return (deacon, dogs) }
        return try parse(data, file: file, deacon: deacon, dogs: dogs)
    }

    /// Parses the file's bytes (see `load`).
    public static func parse(
        _ data: Data, file: String, deacon: DeaconSettings, dogs: DogSettings
    )
        throws(TownError) -> (DeaconSettings, DogSettings)
    {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .io("\(file) is not a JSON object; fix it (see docs/health.md) or remove it for the defaults")
        }
        var deacon = deacon
        var dogs = dogs
        func number(_ value: Any?, _ key: String) throws(TownError) -> Double {
            guard let value = value as? NSNumber, value.doubleValue.isFinite, value.doubleValue >= 0
            else { throw .io("\(file): \"\(key)\" must be a number ≥ 0") }
            return value.doubleValue
        }
        func count(_ key: String) throws(TownError) -> Int {
            let value = try number(object[key], key)
            guard value == value.rounded(), value < 1e15 else {
                throw .io("\(file): \"\(key)\" must be a whole number")
            }
            return Int(value)
        }
        for key in object.keys.sorted() {
            switch key {
            case "give_up_after": deacon.giveUpAfter = max(1, try count(key))
            case "dog_escalate_after": deacon.dogEscalateAfter = max(1, try count(key))
            case "stale_after": deacon.staleAfter = try number(object[key], key)
            case "first_run_fraction": deacon.firstRunFraction = min(1, try number(object[key], key))
            case "cleanup_disk_budget": dogs.cleanupDiskBudget = Int64(try count(key))
            case "doctor_minimum_free_bytes": dogs.doctorMinimumFreeBytes = Int64(try count(key))
            case "repack_minimum_loose_objects": dogs.repackMinimumLooseObjects = try count(key)
            case "dogs":
                guard let intervals = object[key] as? [String: Any] else {
                    throw .io("\(file): \"dogs\" must be an object of Dog name → interval in seconds")
                }
                for (name, value) in intervals {
                    guard DeaconSettings().dogs[name] != nil else {
                        throw .io(
                            "\(file): there is no Dog \"\(name)\" (the Dogs are "
                                + DeaconSettings().dogs.keys.sorted().joined(separator: ", ") + ")")
                    }
                    deacon.dogs[name] = try number(value, "dogs.\(name)")
                }
            default:
                throw .io(
                    "\(file): unknown setting \"\(key)\" (known: cleanup_disk_budget, doctor_minimum_free_bytes, dogs, "
                        + "dog_escalate_after, first_run_fraction, give_up_after, repack_minimum_loose_objects, "
                        + "stale_after)")
            }
        }
        return (deacon, dogs)
    }
}
