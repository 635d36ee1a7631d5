use std::cell::RefCell;
use std::rc::Rc;
use weavekit::{Dispatcher, Error, Kernel};

#[test]
fn smoke() {
    let mut d = Dispatcher::new(2, |k: &mut Kernel| {
        k.on("sq", |id: usize, m: &u64| id as u64 * m);
        k.on("boom", |id: usize, _: &()| -> u32 {
            if id == 7 {
                panic!("seven")
            }
            id as u32
        });
    })
    .unwrap();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    d.dispatch(
        "sq",
        1000,
        move |r: Result<Vec<u64>, Error>| *g.borrow_mut() = Some(r),
        None,
        3u64,
    )
    .unwrap();
    d.wait();
    let v = got.borrow_mut().take().unwrap().unwrap();
    assert_eq!(v.len(), 1000);
    assert!(v.iter().enumerate().all(|(i, x)| *x == 3 * i as u64));
    let g = got.clone();
    d.dispatch(
        "boom",
        100,
        move |r: Result<Vec<u32>, Error>| {
            *g.borrow_mut() = Some(r.map(|v| v.into_iter().map(u64::from).collect()))
        },
        Some(3),
        (),
    )
    .unwrap();
    d.wait();
    let e = got.borrow_mut().take().unwrap().unwrap_err();
    assert!(matches!(e, Error::HandlerPanicked { item: 7, .. }), "{e}");
}
