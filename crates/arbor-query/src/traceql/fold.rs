//! Constant arithmetic: the value of thresholds such as `count() > 1 - 3` or
//! `({…} | rate()) > 1 / 2`. Integers stay integers (`1 / 2` is 0, as in Tempo), a float
//! operand makes a float, a duration operand a duration (nanoseconds).

use super::ast::{ArithOp, MetricsExpr, ScalarExpr, Static};

/// `a op b` over numbers; an error for division by zero, overflow or a non-number.
pub fn arith(op: ArithOp, a: &Static, b: &Static) -> Result<Static, String> {
    use Static::{Duration, Float, Int};
    let symbol = op.symbol();
    match (a, b) {
        (Int(x), Int(y)) => int_arith(op, *x, *y).map(Int),
        (Duration(x), Int(y) | Duration(y)) | (Int(x), Duration(y)) => {
            int_arith(op, *x, *y).map(Duration)
        }
        (Float(_), Int(_) | Float(_) | Duration(_)) | (Int(_) | Duration(_), Float(_)) => {
            let value = float_arith(op, as_f64(a), as_f64(b))?;
            if matches!(a, Duration(_)) || matches!(b, Duration(_)) {
                if value.abs() >= i64::MAX as f64 {
                    return Err(format!("`{symbol}` overflows"));
                }
                Ok(Duration(value.round() as i64))
            } else {
                Ok(Float(value))
            }
        }
        _ => Err(format!("`{symbol}` needs numbers")),
    }
}

fn as_f64(s: &Static) -> f64 {
    match s {
        Static::Int(i) | Static::Duration(i) => *i as f64,
        Static::Float(f) => *f,
        _ => f64::NAN,
    }
}

fn int_arith(op: ArithOp, x: i64, y: i64) -> Result<i64, String> {
    let result = match op {
        ArithOp::Add => x.checked_add(y),
        ArithOp::Sub => x.checked_sub(y),
        ArithOp::Mul => x.checked_mul(y),
        ArithOp::Div | ArithOp::Mod if y == 0 => return Err("division by zero".into()),
        ArithOp::Div => x.checked_div(y),
        ArithOp::Mod => x.checked_rem(y),
        ArithOp::Pow => u32::try_from(y).ok().and_then(|y| x.checked_pow(y)),
    };
    result.ok_or_else(|| format!("`{}` overflows", op.symbol()))
}

fn float_arith(op: ArithOp, x: f64, y: f64) -> Result<f64, String> {
    if matches!(op, ArithOp::Div | ArithOp::Mod) && y == 0.0 {
        return Err("division by zero".into());
    }
    let value = match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        ArithOp::Div => x / y,
        ArithOp::Mod => x % y,
        ArithOp::Pow => x.powf(y),
    };
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("`{}` gives no finite number", op.symbol()))
    }
}

impl ScalarExpr {
    /// The value when the expression holds no aggregate; `None` when it does.
    pub fn const_value(&self) -> Option<Result<Static, String>> {
        match self {
            ScalarExpr::Aggregate(_) => None,
            ScalarExpr::Literal(value, _) => Some(Ok(value.clone())),
            ScalarExpr::Binary { op, lhs, rhs, .. } => {
                let l = lhs.const_value()?;
                let r = rhs.const_value()?;
                Some(l.and_then(|l| r.and_then(|r| arith(*op, &l, &r))))
            }
        }
    }
}

impl MetricsExpr {
    /// The value when the expression holds no metrics pipeline (a threshold); `None` when
    /// it does.
    pub fn const_value(&self) -> Option<Result<Static, String>> {
        match self {
            MetricsExpr::Literal(value, _) => Some(Ok(value.clone())),
            MetricsExpr::Binary { op, lhs, rhs, .. } => {
                let l = lhs.const_value()?;
                let r = rhs.const_value()?;
                Some(l.and_then(|l| r.and_then(|r| arith(*op, &l, &r))))
            }
            MetricsExpr::Pipeline(_) | MetricsExpr::Filter { .. } | MetricsExpr::TopK { .. } => {
                None
            }
        }
    }
}
