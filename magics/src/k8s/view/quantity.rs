//! Kubernetes quantities ("250m", "128Mi", "129e6") and how kubectl prints CPU and memory.

/// A quantity in base units (cores or bytes).
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q.find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E').unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let n: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        _ => return None,
    };
    Some(n * scale)
}

/// kubectl's way: CPU in millicores rounded up.
pub fn cpu_text(cores: f64) -> String {
    format!("{}m", (cores * 1000.0 - 1e-9).ceil().max(0.0) as i64)
}

/// kubectl's way: memory in MiB rounded down.
pub fn memory_text(bytes: f64) -> String {
    format!("{}Mi", (bytes / (1024.0 * 1024.0)).floor() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_in_base_units() {
        assert_eq!(parse_quantity("250m"), Some(0.25));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("1500000n"), Some(0.0015));
        assert_eq!(parse_quantity("128Mi"), Some(134217728.0));
        assert_eq!(parse_quantity("129e6"), Some(129e6));
        assert_eq!(parse_quantity("1G"), Some(1e9));
        assert_eq!(parse_quantity("12x"), None);
        assert_eq!(cpu_text(0.0015), "2m");
        assert_eq!(cpu_text(0.0012), "2m", "rounded up, as kubectl does");
        assert_eq!(cpu_text(0.25), "250m");
        assert_eq!(memory_text(134217728.0 + 900_000.0), "128Mi", "rounded down");
        assert_eq!(memory_text(134217728.0), "128Mi");
    }
}
