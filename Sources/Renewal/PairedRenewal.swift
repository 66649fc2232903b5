import Base
import CertStore
import Issuance

/// How `acme renew` (and so the daemon) treats an ECDSA + RSA pair (`KeyPairing`): when either
/// lineage is due both are renewed in the same run, the ECDSA one first, so that the RSA order
/// finds the authorizations the ECDSA one validated; `--cert-name` of either selects both.
extension Renewer {
    /// `--cert-name NAME`: the lineage, and its pair partner when the partner's conf exists.
    static func withPartner(_ lineage: Lineage, store: LineageStore) -> [Lineage] {
        do {
            let config = try store.renewalConfig(of: lineage)
            guard let partner = try KeyPairing.partner(in: config, path: lineage.renewalConfigPath),
                  let other = try store.lineage(named: partner), FS.exists(other.renewalConfigPath) else { return [lineage] }
            return [lineage, other]
        } catch {
            // The conf cannot be read or names no valid partner: the lineage alone is selected,
            // and reading it again in Renewer.run reports exactly that failure.
            return [lineage]
        }
    }

    /// Moves the not-due partner of every due lineage into `due` (its not-due report line is
    /// dropped) and orders each pair ECDSA first. Returns a note for each due lineage whose
    /// partner's renewal conf is gone (deleted by hand): that lineage is renewed alone.
    static func pairUp(_ due: inout [(Candidate, DueBasis)], notDue: [String: Candidate], reports: inout [LineageReport],
                       store: LineageStore) -> [String] {
        var notes: [String] = []
        var partnerOf: [String: String] = [:]
        var ecdsa: [String: Bool] = [:]
        func look(_ candidate: Candidate) {
            let path = candidate.lineage.renewalConfigPath
            // An unreadable acme_key_pair or key type is reported when the lineage is renewed
            // (RenewalParams decodes the same conf); here it only means "not paired".
            guard let partner = try? KeyPairing.partner(in: candidate.config, path: path) else { return }
            partnerOf[candidate.lineage.name] = partner
            ecdsa[candidate.lineage.name] = try? KeyPairing.holdsECDSA(candidate.config, path: path)
        }
        due.forEach { look($0.0) }
        notDue.values.forEach(look)

        var dueNames = Set(due.map(\.0.lineage.name))
        for (candidate, _) in due {
            let name = candidate.lineage.name
            guard let partner = partnerOf[name], !dueNames.contains(partner) else { continue }
            if let waiting = notDue[partner] {
                due.append((waiting, .pairedWith(name)))
                dueNames.insert(partner)
                reports.removeAll { $0.name == partner }
            } else if !FS.exists(Lineage(name: partner, configDirectory: store.configDirectory).renewalConfigPath) {
                notes.append("\(name): its pair \(partner) has no renewal conf any more; renewing \(name) alone (issue the pair again with acme issue --key-type ecdsa,rsa --cert-name \(ecdsa[name] == false ? partner : name) to restore it)")
            }
        }
        // ECDSA first within a pair: sort by the pair's ECDSA name, then RSA after it (stable).
        func group(_ name: String) -> String {
            guard let partner = partnerOf[name], dueNames.contains(partner) else { return name }
            return ecdsa[name] == false ? partner : name
        }
        due = due.enumerated().sorted { a, b in
            let ga = group(a.element.0.lineage.name), gb = group(b.element.0.lineage.name)
            if ga != gb { return ga < gb }
            let ra = ecdsa[a.element.0.lineage.name] == false, rb = ecdsa[b.element.0.lineage.name] == false
            return ra != rb ? !ra : a.offset < b.offset
        }.map(\.element)
        return notes
    }
}
