//! Test-only: a plugin that runs on schedules and misbehaves on purpose,
//! by the schedule's name: `spin…` loops forever (stopped at its limit),
//! `fail…` returns an error, anything else counts its runs in kv
//! (`runs:<name>`) and logs the tick.
use wxhost_sdk::prelude::*;

struct FaultSchedule;

impl Plugin for FaultSchedule {
    fn describe() -> PluginInfo {
        PluginInfo::new("fault-schedule", "0.0.0")
    }
}

impl Scheduled for FaultSchedule {
    fn handle_schedule(tick: Tick) -> Result<(), String> {
        if tick.name.starts_with("spin") {
            let mut n = tick.scheduled_at;
            loop {
                n = core::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        if tick.name.starts_with("fail") {
            return Err(format!("asked to fail at {}", tick.scheduled_at));
        }
        let runs = kv::incr(&format!("runs:{}", tick.name))?;
        log::info(&format!(
            "tick {} of {} for {} (run {runs})",
            tick.scheduled_at, tick.name, tick.account.name
        ));
        Ok(())
    }
}

wxhost_sdk::export_scheduled_plugin!(FaultSchedule);
