//! The `KAFKA_*` environment as librdkafka properties.
//!
//! - `KAFKA_<NAME>` sets the property `<name>` (`KAFKA_SASL_USERNAME` ->
//!   `sasl.username`).
//! - `KAFKA_<NAME>_FILE=/run/secrets/x` sets it to the file's content, less a
//!   trailing newline: the Docker and Kubernetes secrets convention, so a
//!   secret need not sit in the environment. A variable whose whole name is
//!   a property (`KAFKA_SASL_OAUTHBEARER_ASSERTION_FILE` is
//!   `sasl.oauthbearer.assertion.file`) is that property.
//! - A variable that names no librdkafka property is ignored with a warning
//!   rather than stopping start-up: Kubernetes gives every pod `KAFKA_PORT`,
//!   `KAFKA_SERVICE_HOST`, ... for a Service named `kafka`, and hosts with
//!   Kafka installed carry `KAFKA_HOME`, `KAFKA_HEAP_OPTS`, ...; a worker that
//!   cannot start next to them is worse than one that names, at start-up, a
//!   variable it ignored. (`-X` flags are explicit: an unknown name there
//!   still stops start-up.)

use std::ffi::OsString;
use std::path::Path;

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;
use rdkafka::ClientConfig;

/// Variables that are settings of their own, not passthrough properties.
const OWN_VARIABLES: [&str; 2] = ["KAFKA_BOOTSTRAP_SERVERS", "KAFKA_GROUP_ID"];

/// A property set by a variable.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct EnvProperty {
    /// The variable, e.g. `KAFKA_SASL_PASSWORD_FILE`.
    pub source: String,
    pub name: String,
    pub value: String,
}

/// What the `KAFKA_*` variables amount to.
#[derive(Debug, Default)]
pub(super) struct Environment {
    /// Sorted by variable name.
    pub properties: Vec<EnvProperty>,
    /// Variables that name no librdkafka property: left out.
    pub ignored: Vec<String>,
    /// Variables that cannot be used, each with why (never with a value).
    pub problems: Vec<String>,
}

/// `KAFKA_SASL_USERNAME` -> `sasl.username`.
pub fn property_name(variable: &str) -> Option<String> {
    let name = variable.strip_prefix("KAFKA_")?;
    (!name.is_empty() && !OWN_VARIABLES.contains(&variable)).then(|| name.to_lowercase().replace('_', "."))
}

/// True when librdkafka knows `name` (whatever value it would take).
fn is_property(name: &str) -> bool {
    !matches!(
        ClientConfig::new().set(name, "").create_native_config(),
        Err(KafkaError::ClientConfig(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN, ..))
    )
}

/// The process environment's `KAFKA_*` variables.
pub(super) fn current() -> Environment {
    read(std::env::vars_os(), |path| std::fs::read(path))
}

/// `variables` as properties; `read_file` reads a `_FILE` variable's file.
pub(super) fn read(
    variables: impl IntoIterator<Item = (OsString, OsString)>,
    read_file: impl Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Environment {
    let mut variables: Vec<(String, OsString)> = variables
        .into_iter()
        .filter_map(|(variable, value)| Some((variable.into_string().ok()?, value)))
        .filter(|(variable, _)| property_name(variable).is_some())
        .collect();
    variables.sort();
    let mut environment = Environment::default();
    for (variable, value) in &variables {
        let Some(name) = property_name(variable) else { continue };
        let from_file = match name.strip_suffix(".file") {
            Some(stripped) if !is_property(&name) => Some(stripped.to_owned()),
            _ => None,
        };
        let name = from_file.clone().unwrap_or(name);
        if !is_property(&name) {
            environment.ignored.push(variable.clone());
            continue;
        }
        if from_file.is_some() {
            let direct = variable.strip_suffix("_FILE").unwrap_or(variable);
            if variables.iter().any(|(other, _)| other == direct) {
                environment.problems.push(format!("{direct} and {variable} are both set: keep one"));
                continue;
            }
        }
        let value = match from_file {
            Some(_) => file_value(variable, Path::new(value), &read_file),
            None => value.to_str().map(str::to_owned).ok_or_else(|| format!("{variable}: the value is not UTF-8")),
        };
        match value {
            Ok(value) => environment.properties.push(EnvProperty { source: variable.clone(), name, value }),
            Err(problem) => environment.problems.push(problem),
        }
    }
    environment
}

/// A secret file's content less one trailing newline (`echo` and most
/// editors add one; Kubernetes secrets have none).
fn file_value(
    variable: &str,
    path: &Path,
    read_file: impl Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<String, String> {
    let bytes = read_file(path).map_err(|e| format!("{variable}: cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{variable}: {} is not UTF-8", path.display()))?;
    let text = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn environment(variables: &[(&str, &str)], files: &[(&str, &str)]) -> Environment {
        let files: HashMap<String, String> = files.iter().map(|(p, c)| (p.to_string(), c.to_string())).collect();
        read(variables.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))), |path| {
            files
                .get(path.to_str().unwrap_or_default())
                .map(|content| content.as_bytes().to_vec())
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        })
    }

    fn properties(environment: &Environment) -> Vec<(&str, &str, &str)> {
        environment.properties.iter().map(|p| (p.source.as_str(), p.name.as_str(), p.value.as_str())).collect()
    }

    #[test]
    fn variables_map_to_librdkafka_properties() {
        assert_eq!(property_name("KAFKA_SECURITY_PROTOCOL").as_deref(), Some("security.protocol"));
        assert_eq!(property_name("KAFKA_STATISTICS_INTERVAL_MS").as_deref(), Some("statistics.interval.ms"));
        assert_eq!(property_name("KAFKA_BOOTSTRAP_SERVERS"), None);
        assert_eq!(property_name("KAFKA_"), None);
        assert_eq!(property_name("OTHER"), None);
    }

    #[test]
    fn a_file_variable_reads_the_value_from_the_file_less_one_newline() {
        let environment = environment(
            &[("KAFKA_SASL_PASSWORD_FILE", "/run/secrets/kafka"), ("KAFKA_SSL_KEY_PASSWORD_FILE", "/k")],
            &[("/run/secrets/kafka", "s3cret\n"), ("/k", "two\nlines\r\n")],
        );
        assert_eq!(
            properties(&environment),
            [
                ("KAFKA_SASL_PASSWORD_FILE", "sasl.password", "s3cret"),
                ("KAFKA_SSL_KEY_PASSWORD_FILE", "ssl.key.password", "two\nlines"),
            ]
        );
        assert!(environment.problems.is_empty() && environment.ignored.is_empty(), "{environment:?}");
    }

    #[test]
    fn a_property_whose_own_name_ends_in_file_is_that_property() {
        let environment = environment(&[("KAFKA_SASL_OAUTHBEARER_ASSERTION_FILE", "/jwt")], &[]);
        assert_eq!(
            properties(&environment),
            [("KAFKA_SASL_OAUTHBEARER_ASSERTION_FILE", "sasl.oauthbearer.assertion.file", "/jwt")]
        );
    }

    #[test]
    fn an_unreadable_file_or_a_property_given_twice_is_a_problem_naming_the_variable_not_the_value() {
        let environment = environment(
            &[
                ("KAFKA_SASL_PASSWORD_FILE", "/missing"),
                ("KAFKA_SSL_KEY_PASSWORD", "hunter2"),
                ("KAFKA_SSL_KEY_PASSWORD_FILE", "/k"),
            ],
            &[("/k", "hunter3")],
        );
        let problems = environment.problems.join("\n");
        assert!(problems.contains("KAFKA_SASL_PASSWORD_FILE: cannot read /missing"), "{problems}");
        assert!(problems.contains("KAFKA_SSL_KEY_PASSWORD and KAFKA_SSL_KEY_PASSWORD_FILE are both set"), "{problems}");
        assert!(!problems.contains("hunter"), "{problems}");
    }

    #[test]
    fn variables_that_name_no_property_are_ignored_not_fatal() {
        // What Kubernetes injects for a Service named `kafka`, and Kafka's own
        // script variables.
        let environment = environment(
            &[
                ("KAFKA_PORT", "tcp://10.0.0.7:9092"),
                ("KAFKA_PORT_9092_TCP", "tcp://10.0.0.7:9092"),
                ("KAFKA_PORT_9092_TCP_ADDR", "10.0.0.7"),
                ("KAFKA_SERVICE_HOST", "10.0.0.7"),
                ("KAFKA_SERVICE_PORT", "9092"),
                ("KAFKA_HEAP_OPTS", "-Xmx1g"),
                ("KAFKA_CONTROLLER_PORT", "9094"),
                ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
                ("KAFKA_BOOTSTRAP_SERVERS", "b:9092"),
            ],
            &[],
        );
        assert_eq!(properties(&environment), [("KAFKA_SECURITY_PROTOCOL", "security.protocol", "SASL_SSL")]);
        assert_eq!(
            environment.ignored,
            [
                "KAFKA_CONTROLLER_PORT",
                "KAFKA_HEAP_OPTS",
                "KAFKA_PORT",
                "KAFKA_PORT_9092_TCP",
                "KAFKA_PORT_9092_TCP_ADDR",
                "KAFKA_SERVICE_HOST",
                "KAFKA_SERVICE_PORT",
            ]
        );
        assert!(environment.problems.is_empty());
    }
}
