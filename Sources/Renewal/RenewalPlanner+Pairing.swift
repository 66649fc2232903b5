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
}

extension RenewalPlanner {
    /// Pulls the not-due partner of every lineage the plan renews into the renewals (basis
    /// `pairedWith`; its not-due entry is replaced) and orders the renewals so that each pair runs
    /// ECDSA first. Adds a note for each renewed lineage whose partner's renewal conf is gone
    /// (deleted by hand): that lineage is renewed alone. Returns the names pulled in.
    @discardableResult
    public static func pairUp(_ plan: inout RenewalPlan) -> [String] {
        var partnerOf: [String: String] = [:]
        var ecdsa: [String: Bool] = [:]
        for case let lineage? in plan.entries.map(\.subject) {
            let path = lineage.lineage.renewalConfigPath
            // An unreadable acme_key_pair or key type is reported when the lineage is renewed
            // (RenewalParams decodes the same conf); here it only means "not paired".
            guard let partner = try? KeyPairing.partner(in: lineage.config, path: path) else { continue }
            partnerOf[lineage.name] = partner
            ecdsa[lineage.name] = try? KeyPairing.holdsECDSA(lineage.config, path: path)
        }
        var dueNames = Set(plan.renewals.map(\.name))
        var pulled: [String] = []
        for entry in plan.renewals {
            guard let partner = partnerOf[entry.name], !dueNames.contains(partner) else { continue }
            if let index = plan.entries.firstIndex(where: { $0.name == partner && $0.subject != nil }),
               case .notDue = plan.entries[index].decision {
                var moved = plan.entries.remove(at: index)
                (moved.decision, moved.rolloverStep) = (.renew(.pairedWith(entry.name)), nil)
                plan.entries.append(moved)
                dueNames.insert(partner)
                pulled.append(partner)
            } else if entry.subject?.partnerConfExists == false {
                plan.notes.append("\(entry.name): its pair \(partner) has no renewal conf any more; renewing \(entry.name) alone (issue the pair again with acme issue --key-type ecdsa,rsa --cert-name \(ecdsa[entry.name] == false ? partner : entry.name) to restore it)")
            }
        }
        // ECDSA first within a pair: sort by the pair's ECDSA name, then RSA after it (stable).
        func group(_ name: String) -> String {
            guard let partner = partnerOf[name], dueNames.contains(partner) else { return name }
            return ecdsa[name] == false ? partner : name
        }
        let renewals = plan.renewals.enumerated().sorted { a, b in
            let ga = group(a.element.name), gb = group(b.element.name)
            if ga != gb { return ga < gb }
            let ra = ecdsa[a.element.name] == false, rb = ecdsa[b.element.name] == false
            return ra != rb ? !ra : a.offset < b.offset
        }.map(\.element)
        plan.entries = renewals + plan.entries.filter { !$0.renews }
        return pulled
    }
}
