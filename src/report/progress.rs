//! Progress on the terminal for long commands (indicatif): drawn on stderr only when it is a
//! terminal, so files, pipes and CI logs never see it.

use indicatif::{ProgressBar, ProgressStyle};

fn styled(b: ProgressBar, template: &str) -> ProgressBar {
    b.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
    b
}

/// A bar of runs whose total grows as work is planned (`inc_length`); hidden unless `show`.
pub fn bar(show: bool, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    styled(ProgressBar::new(0), &format!("{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {what}"))
}

/// A count of finished runs when their total is not known ahead (a search); hidden unless `show`.
pub fn counter(show: bool, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let b = styled(ProgressBar::new_spinner(), &format!("{{elapsed_precise}} {{spinner}} {{pos}} {what} {{msg}}"));
    b.enable_steady_tick(std::time::Duration::from_millis(200));
    b
}
