//! What every double shares: its property store (GObject checks names and types before a value
//! gets here, exactly as for the real element) and the scripted failure (see `fail.rs`).

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use glib::ParamSpec;
use gstreamer as gst;
use gstreamer::prelude::*;

use crate::fail::{self, Mode, Plan};

/// Property values set on one instance (read-only ones answer from `fixed`).
pub struct Props {
    values: Mutex<HashMap<String, Stored>>,
    fixed: fn(&str) -> Option<glib::Value>,
}

impl Props {
    /// An empty store; `fixed` answers read-only properties (device paths).
    pub fn new(fixed: fn(&str) -> Option<glib::Value>) -> Self {
        Self { values: Mutex::default(), fixed }
    }

    /// GObject `set_property`.
    pub fn set(&self, pspec: &ParamSpec, value: &glib::Value) {
        if let Some(v) = Stored::from_value(value) {
            self.values.lock().expect("props").insert(pspec.name().to_owned(), v);
        }
    }

    /// GObject `get_property`.
    pub fn get(&self, pspec: &ParamSpec) -> glib::Value {
        if let Some(v) = self.values.lock().expect("props").get(pspec.name()) {
            return v.to_value();
        }
        (self.fixed)(pspec.name()).unwrap_or_else(|| crate::props::default_of(pspec))
    }
}

/// A property value in a form that may cross threads (`glib::Value` may not): the types the
/// doubles' properties have.
#[derive(Debug, Clone)]
enum Stored {
    U32(u32),
    I32(i32),
    Bool(bool),
    Str(Option<String>),
    Enum(glib::Type, i32),
    Structure(Option<gst::Structure>),
    Array(gst::Array),
}

impl Stored {
    fn from_value(v: &glib::Value) -> Option<Self> {
        let t = v.type_();
        Some(if t == glib::Type::U32 {
            Self::U32(v.get().ok()?)
        } else if t == glib::Type::I32 {
            Self::I32(v.get().ok()?)
        } else if t == glib::Type::BOOL {
            Self::Bool(v.get().ok()?)
        } else if t == glib::Type::STRING {
            Self::Str(v.get().ok()?)
        } else if t.is_a(glib::Type::ENUM) {
            Self::Enum(t, glib::EnumValue::from_value(v)?.1.value())
        } else if t == gst::Structure::static_type() {
            Self::Structure(v.get().ok()?)
        } else if t == gst::Array::static_type() {
            Self::Array(v.get().ok()?)
        } else {
            return None;
        })
    }

    fn to_value(&self) -> glib::Value {
        match self {
            Self::U32(x) => x.to_value(),
            Self::I32(x) => x.to_value(),
            Self::Bool(x) => x.to_value(),
            Self::Str(x) => x.to_value(),
            Self::Enum(t, x) => {
                glib::EnumClass::with_type(*t).and_then(|c| c.to_value(*x)).unwrap_or_else(|| x.to_value())
            }
            Self::Structure(x) => x.to_value(),
            Self::Array(x) => x.to_value(),
        }
    }
}

/// A scripted failure as it plays out on one instance.
pub struct Failure {
    plan: Option<Plan>,
    armed: Mutex<bool>,
    first: Mutex<Option<Instant>>,
    tripped: Mutex<bool>,
    /// Set when the element stops, to release a stalled streaming thread.
    released: (Mutex<bool>, Condvar),
}

/// What `handle_frame` must do now.
pub enum Verdict {
    /// Work normally.
    Go,
    /// Fail in this way.
    Fail(Mode),
}

impl Failure {
    /// The plan for `element` from `RETROVUE_DOUBLE_FAIL`.
    pub fn for_element(element: &str) -> Self {
        Self {
            plan: fail::from_env(element),
            armed: Mutex::new(false),
            first: Mutex::default(),
            tripped: Mutex::new(false),
            released: (Mutex::new(false), Condvar::new()),
        }
    }

    /// A plan that fails at start for every stream size (checked in `start()`).
    pub fn fails_at_open(&self) -> bool {
        self.plan.as_ref().is_some_and(|p| p.at_start() && p.size.is_none() && p.mode == Mode::Error)
    }

    /// New stream of this size: arm the plan if it matches. Returns the mode to fail in at
    /// once (start-time plans), if any.
    pub fn on_caps(&self, width: i32, height: i32) -> Option<Mode> {
        let plan = self.plan.as_ref()?;
        let hit = plan.matches(width, height);
        *self.armed.lock().expect("armed") = hit;
        (hit && plan.at_start() && plan.mode != Mode::Stall).then_some(plan.mode)
    }

    /// Called for each frame.
    pub fn on_frame(&self) -> Verdict {
        let Some(plan) = &self.plan else { return Verdict::Go };
        if !*self.armed.lock().expect("armed") {
            return Verdict::Go;
        }
        let mut tripped = self.tripped.lock().expect("tripped");
        if !*tripped {
            let first = *self.first.lock().expect("first").get_or_insert_with(Instant::now);
            if first.elapsed() < plan.after {
                return Verdict::Go;
            }
            *tripped = true;
        }
        Verdict::Fail(plan.mode)
    }

    /// Block the streaming thread (a wedged device) until [`Self::release`].
    pub fn stall(&self) {
        let (lock, cvar) = &self.released;
        let mut released = lock.lock().expect("released");
        while !*released {
            released = cvar.wait(released).expect("released");
        }
    }

    /// Let a stalled thread go (the element is being stopped).
    pub fn release(&self) {
        let (lock, cvar) = &self.released;
        *lock.lock().expect("released") = true;
        cvar.notify_all();
    }

    /// Ready for a new run after a stop.
    pub fn reset(&self) {
        *self.released.0.lock().expect("released") = false;
        *self.first.lock().expect("first") = None;
        *self.tripped.lock().expect("tripped") = false;
    }
}

/// The first of `allowed` (in its order of preference) that a caps field (a fixed string or
/// a list) offers: `Some(None)` when the field is absent, `None` when it offers none of them.
pub fn pick_string(s: &gst::StructureRef, field: &str, allowed: &[&'static str]) -> Option<Option<&'static str>> {
    let Ok(v) = s.value(field) else { return Some(None) };
    let candidates: Vec<String> = if let Ok(one) = v.get::<String>() {
        vec![one]
    } else if let Ok(list) = v.get::<gst::List>() {
        list.iter().filter_map(|x| x.get::<String>().ok()).collect()
    } else {
        return Some(None);
    };
    allowed.iter().copied().find(|a| candidates.iter().any(|c| c == a)).map(Some)
}
