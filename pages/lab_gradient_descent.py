import streamlit as st

st.title("lab_gradient_descent")
st.info("This page is being written.")
