/// Let's Encrypt's ACME directories: the default CA, and where `--staging` and
/// `acme renew --dry-run` go instead.
public enum LetsEncrypt {
    public static let production = "https://acme-v02.api.letsencrypt.org/directory"
    public static let staging = "https://acme-staging-v02.api.letsencrypt.org/directory"
}
